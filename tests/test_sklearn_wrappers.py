"""shoal.wrappers (scikit-learn estimators around models), against keras.wrappers 3.15.

Every fit compiles a new model, so the data and models are tiny and the fits few."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

sklearn = pytest.importorskip("sklearn")

import keras  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402

import shoal  # noqa: E402
from shoal.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402

FIT = {"epochs": 1, "batch_size": 64, "verbose": 0}
RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 3)).astype("float32")
LABELS = np.array(["cat", "dog", "emu"])[np.arange(24) % 3]


def build(X, y, hidden=4, activation="softmax", loss="categorical_crossentropy", lib=shoal):
    """A one-hidden-layer model sized from the (processed) data, as Keras' docs do."""
    inputs = lib.Input((X.shape[1],))
    hidden_out = lib.layers.Dense(hidden, activation="relu")(inputs)
    outputs = lib.layers.Dense(y.shape[1] if y.ndim > 1 else 1, activation=activation)(hidden_out)
    model = lib.Model(inputs, outputs)
    model.compile(loss=loss, optimizer="adam")
    return model


def test_classifier_in_a_pipeline_keeps_labels():
    seen = {}

    def spy(X, y, **kwargs):
        seen["shapes"] = (X.shape, y.shape)
        seen["kwargs"] = kwargs
        return build(X, y, **kwargs)

    clf = SKLearnClassifier(spy, model_kwargs={"hidden": 5}, fit_kwargs=dict(FIT))
    pipe = make_pipeline(StandardScaler(), clf).fit(X, LABELS)
    assert seen["shapes"] == ((24, 3), (24, 3))  # the model sees one-hot targets
    assert seen["kwargs"] == {"hidden": 5}
    assert clf.classes_.tolist() == ["cat", "dog", "emu"]
    predicted = pipe.predict(X)
    assert predicted.shape == (24,) and set(predicted) <= set(LABELS)
    raw = clf.decision_function(StandardScaler().fit(X).transform(X))
    assert raw.shape == (24, 3)
    np.testing.assert_allclose(raw.sum(-1), 1.0, rtol=1e-5)  # softmax outputs
    np.testing.assert_array_equal(clf.classes_[raw.argmax(-1)], predicted)
    assert 0.0 <= pipe.score(X, LABELS) <= 1.0
    assert clf.epoch_ == 1 and len(clf.history_.history["loss"]) == 1
    assert clf.model_.layers[1].units == 5
    # fit's own kwargs override fit_kwargs, which stay as given
    clf.fit(X, LABELS, epochs=2)
    assert clf.epoch_ == 2 and clf.fit_kwargs == FIT


def test_grid_search_over_model_kwargs():
    clf = SKLearnClassifier(build, fit_kwargs=dict(FIT))
    search = GridSearchCV(clf, {"model_kwargs": [{"hidden": 2}, {"hidden": 6}]}, cv=2, refit=False)
    search.fit(X, LABELS)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.best_params_["model_kwargs"] in ({"hidden": 2}, {"hidden": 6})
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_clone_get_params_and_tags_match_keras():
    mine = SKLearnRegressor(build, model_kwargs={"loss": "mse"}, fit_kwargs=dict(FIT))
    theirs = keras.wrappers.SKLearnRegressor(build, model_kwargs={"loss": "mse"})
    assert sorted(mine.get_params()) == sorted(theirs.get_params())
    copy = clone(mine)
    assert copy is not mine and copy.get_params() == mine.get_params()
    assert copy.set_params(warm_start=True).warm_start and not mine.warm_start
    for cls, ref in [
        (SKLearnClassifier, keras.wrappers.SKLearnClassifier),
        (SKLearnRegressor, keras.wrappers.SKLearnRegressor),
        (SKLearnTransformer, keras.wrappers.SKLearnTransformer),
    ]:
        assert cls(build).__sklearn_tags__() == ref(build).__sklearn_tags__(), cls
    tags = SKLearnClassifier(build).__sklearn_tags__()
    assert tags.non_deterministic and tags.classifier_tags.poor_score
    assert SKLearnTransformer(build).__sklearn_tags__().transformer_tags.preserves_dtype == []
    for check in (
        estimator_checks.check_no_attributes_set_in_init,
        estimator_checks.check_get_params_invariance,
        estimator_checks.check_set_params,
    ):
        check("SKLearnRegressor", mine)


def test_regressor_and_transformer_shapes():
    y = X @ np.array([1.0, -2.0, 0.5], "float32")
    reg = SKLearnRegressor(build, model_kwargs={"activation": None, "loss": "mse"}, fit_kwargs=FIT)
    predicted = reg.fit(X, y).predict(X)
    assert predicted.shape == (24,) and predicted.dtype == np.float32
    assert np.isfinite(reg.score(X, y))
    with pytest.raises(ValueError, match="3 features"):
        reg.predict(X[:, :2])

    trs = SKLearnTransformer(
        build, model_kwargs={"hidden": 3, "activation": None, "loss": "mse"}, fit_kwargs=FIT
    )
    out = trs.fit_transform(X, y)
    assert out.shape == (24, 1)  # the model's raw outputs
    np.testing.assert_allclose(out, trs.model_.predict(X, verbose=0), rtol=1e-6)


def test_model_instance_is_cloned_unless_warm_start():
    given = build(X, np.zeros((24, 3)), hidden=3)
    clf = SKLearnClassifier(given, fit_kwargs=FIT).fit(X, LABELS)
    assert clf.model_ is not given and clf.model_.compiled
    warm = SKLearnClassifier(given, warm_start=True, fit_kwargs=FIT).fit(X, LABELS)
    assert warm.model_ is given
    before = [w.copy() for w in given.get_weights()]
    warm.fit(X, LABELS)
    assert warm.model_ is given
    assert any(not np.array_equal(a, b) for a, b in zip(before, given.get_weights(), strict=True))


def test_errors_name_the_problem():
    clf = SKLearnClassifier(build, fit_kwargs=FIT)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.raises(ValueError, match="two classes"):
        clf.fit(X, np.zeros(24))
    with pytest.raises(ValueError, match="binary and multiclass.*continuous"):
        clf.fit(X, np.linspace(0, 1, 24))

    def uncompiled(X, y):
        inputs = shoal.Input((X.shape[1],))
        return shoal.Model(inputs, shoal.layers.Dense(y.shape[1])(inputs))

    with pytest.raises(RuntimeError, match="compiled"):
        SKLearnRegressor(uncompiled).fit(X, X[:, 0])
    with pytest.raises(TypeError, match="'model'"):
        SKLearnRegressor(model=3).fit(X, X[:, 0])


def test_wrappers_namespace():
    from shoal import wrappers

    assert shoal.wrappers is wrappers
    assert set(wrappers.__all__) == {n for n in dir(keras.wrappers) if not n.startswith("_")}
    with pytest.raises(AttributeError):
        wrappers.SKLearnNothing  # noqa: B018


def test_missing_sklearn_names_the_extra(monkeypatch):
    import sys

    from shoal import wrappers

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.delitem(sys.modules, "shoal.wrappers.sklearn_wrapper")
    monkeypatch.delitem(vars(wrappers), "SKLearnRegressor", raising=False)
    with pytest.raises(ImportError, match=r"shoal\[sklearn\]"):
        wrappers.SKLearnRegressor  # noqa: B018
