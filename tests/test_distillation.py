"""keras.distillation: Distiller with LogitsDistillation / FeatureDistillation, against
Keras 3.15 (JAX) for the same weights and data: logs, trained weights, the frozen teacher,
the .keras file both ways, and the argument checks."""

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from harness import assert_outputs_close, normal  # noqa: E402

import shoal  # noqa: E402

X = normal(48, 6)
Y = np.random.default_rng(1).integers(0, 3, size=(48,))


def _functional(lib, name, units):
    inputs = lib.Input((6,))
    hidden = lib.layers.Dense(units, activation="relu", name="feat")(inputs)
    return lib.Model(inputs, lib.layers.Dense(3, name="logits")(hidden), name=name)


class _Subclassed:
    """The same two Dense layers as a subclassed model, for either library."""

    @staticmethod
    def make(lib, units):
        class Net(lib.Model):
            def __init__(self):
                super().__init__()
                self.feat = lib.layers.Dense(units, activation="relu")
                self.out = lib.layers.Dense(3)

            def call(self, x):
                return self.out(self.feat(x))

        net = Net()
        net(X[:1])
        return net


def _pair(lib, weights, subclassed=False):
    if subclassed:
        teacher, student = _Subclassed.make(lib, 8), _Subclassed.make(lib, 8)
    else:
        teacher, student = _functional(lib, "teacher", 8), _functional(lib, "student", 8)
    teacher.set_weights(weights[0])
    student.set_weights(weights[1])
    return teacher, student


def _weights():
    ref_t, ref_s = _functional(keras, "t", 8), _functional(keras, "s", 8)
    return [w.copy() for w in ref_t.get_weights()], [w.copy() for w in ref_s.get_weights()]


WEIGHTS = _weights()


def _run(lib, losses, subclassed=False, student_loss_weight=0.3, loss=None, **compile_kw):
    teacher, student = _pair(lib, WEIGHTS, subclassed)
    distiller = lib.distillation.Distiller(
        teacher,
        student,
        losses(lib),
        distillation_loss_weights=None if not isinstance(losses(lib), list) else [1.0, 0.5],
        student_loss_weight=student_loss_weight,
    )
    distiller.compile(
        optimizer=lib.optimizers.SGD(0.1),
        loss=loss or lib.losses.SparseCategoricalCrossentropy(from_logits=True),
        **compile_kw,
    )
    history = distiller.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    return distiller, history.history


def _logits_and_features(lib):
    return [
        lib.distillation.LogitsDistillation(temperature=2.0),
        lib.distillation.FeatureDistillation(
            loss="mse", teacher_layer_name="feat", student_layer_name="feat"
        ),
    ]


def _assert_same_training(ours, ref):
    (d_s, h_s), (d_k, h_k) = ours, ref
    assert set(h_s) == set(h_k)
    for key in h_k:
        np.testing.assert_allclose(h_s[key], h_k[key], rtol=2e-5, err_msg=key)
    for a, b in zip(d_s.student.get_weights(), d_k.student.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def logits_and_features():
    return _run(shoal, _logits_and_features, metrics=["accuracy"]), _run(
        keras, _logits_and_features, metrics=["accuracy"]
    )


def test_logits_and_feature_distillation_train_as_keras(logits_and_features):
    ours, ref = logits_and_features
    _assert_same_training(ours, ref)
    distiller = ours[0]
    assert [m.name for m in distiller.metrics] == [m.name for m in ref[0].metrics]
    np.testing.assert_array_equal(distiller.teacher.get_weights()[0], WEIGHTS[0][0])
    assert not distiller.teacher.trainable
    assert len(distiller.trainable_weights) == len(ref[0].trainable_weights) == 4
    got = distiller.evaluate(X, Y, verbose=0, return_dict=True)
    want = ref[0].evaluate(X, Y, verbose=0, return_dict=True)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=2e-5, err_msg=key)
    assert_outputs_close(distiller.predict(X[:4], verbose=0), ref[0].student.predict(X[:4]))


def _h5_paths(path):
    import io
    import zipfile

    with zipfile.ZipFile(path) as archive:
        found = []
        h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r").visit(found.append)
    return found


def test_distiller_file_loads_in_both_libraries(logits_and_features, tmp_path):
    (ours, _), (ref, _) = logits_and_features
    ours.save(tmp_path / "ours.keras")
    ref.save(tmp_path / "ref.keras")
    assert _h5_paths(tmp_path / "ours.keras") == _h5_paths(tmp_path / "ref.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the custom compile() is not replayed, as Keras
        for loaded in (
            shoal.models.load_model(tmp_path / "ref.keras"),
            keras.models.load_model(tmp_path / "ours.keras"),
            shoal.models.load_model(tmp_path / "ours.keras"),
        ):
            assert type(loaded).__name__ == "Distiller"
            assert [type(d).__name__ for d in loaded.distillation_losses] == [
                "LogitsDistillation",
                "FeatureDistillation",
            ]
            assert loaded.distillation_losses[1].teacher_layer_name == "feat"
            assert_outputs_close(loaded.predict(X[:4], verbose=0), ours.predict(X[:4], verbose=0))


def test_a_model_with_its_own_compile_loads_uncompiled_with_keras_warning(tmp_path):
    teacher, student = _pair(shoal, WEIGHTS)
    distiller = shoal.distillation.Distiller(
        teacher, student, shoal.distillation.LogitsDistillation()
    )
    distiller.compile(loss="sparse_categorical_crossentropy")
    distiller.predict(X[:2], verbose=0)
    distiller.save(tmp_path / "d.keras")
    with pytest.warns(UserWarning, match="compile\\(\\)` method is custom"):
        shoal.models.load_model(tmp_path / "d.keras")


@pytest.mark.parametrize(
    "case",
    ["kl_instance_subclassed", "categorical_crossentropy", "student_only", "distill_only"],
)
def test_loss_variants_train_as_keras(case):
    subclassed = case == "kl_instance_subclassed"
    weight = {"student_only": 1.0, "distill_only": 0.0}.get(case, 0.5)

    def losses(lib):
        if case == "kl_instance_subclassed":  # softmax probabilities, scaled by T**2
            return lib.distillation.LogitsDistillation(4.0, loss=lib.losses.KLDivergence())
        return lib.distillation.LogitsDistillation(loss="categorical_crossentropy")

    ours = _run(shoal, losses, subclassed, student_loss_weight=weight)
    ref = _run(keras, losses, subclassed, student_loss_weight=weight)
    _assert_same_training(ours, ref)


def test_multi_output_feature_losses_with_a_skipped_output():
    """(Keras 3.15 fails here: its FeatureDistillation keeps `loss` as a TrackedList that
    tree.map_structure will not pair with the outputs' list.) Logs against NumPy."""

    def make(units, name, seed):
        inputs = shoal.Input((6,))
        a = shoal.layers.Dense(units, name="a")(inputs)
        b = shoal.layers.Dense(2, name="b")(inputs)
        model = shoal.Model(inputs, [a, b], name=name)
        model.set_weights(
            [normal(*w.shape, seed=seed + i) for i, w in enumerate(model.get_weights())]
        )
        return model

    teacher, student = make(3, "t", 3), make(3, "s", 4)
    distiller = shoal.distillation.Distiller(
        teacher, student, shoal.distillation.FeatureDistillation(loss=["mae", None])
    )
    distiller.compile(optimizer=shoal.optimizers.SGD(0.05), loss=["mse", "mse"])
    y = [normal(48, 3, seed=7), normal(48, 2, seed=8)]
    logs = distiller.evaluate(X, y, batch_size=48, verbose=0, return_dict=True)
    t, s = teacher.predict(X, verbose=0), student.predict(X, verbose=0)
    distill = np.mean(np.abs(t[0] - s[0]))
    supervised = np.mean((y[0] - s[0]) ** 2) + np.mean((y[1] - s[1]) ** 2)
    np.testing.assert_allclose(logs["distillation_loss"], distill, rtol=1e-5)
    np.testing.assert_allclose(logs["student_loss"], supervised, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 0.5 * supervised + 0.5 * distill, rtol=1e-5)
    before = student.get_weights()[0].copy()
    distiller.fit(X, y, batch_size=24, verbose=0)
    assert np.abs(student.get_weights()[0] - before).max() > 0


def test_custom_distillation_loss_must_return_a_scalar():
    class PerSample(shoal.distillation.DistillationLoss):
        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            return shoal.ops.sum((teacher_outputs - student_outputs) ** 2, axis=-1)

    teacher, student = _pair(shoal, WEIGHTS)
    distiller = shoal.distillation.Distiller(teacher, student, PerSample())
    distiller.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="PerSample.compute_loss\\(\\) must return a scalar"):
        distiller.fit(X, Y, epochs=1, verbose=0)


def _bad_distiller(**kwargs):
    teacher, student = _pair(shoal, WEIGHTS)
    args = {"distillation_losses": shoal.distillation.LogitsDistillation(), **kwargs}
    return shoal.distillation.Distiller(teacher, student, **args)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: _bad_distiller(student_loss_weight=1.5), "`student_loss_weight` must be between"),
        (lambda: _bad_distiller(student_loss_weight="half"), "`student_loss_weight` must be a"),
        (lambda: _bad_distiller(distillation_losses=None), "`distillation_losses` must be"),
        (
            lambda: _bad_distiller(
                distillation_losses=[shoal.distillation.LogitsDistillation()],
                distillation_loss_weights=[1.0, 2.0],
            ),
            "one weight per distillation loss \\(1\\); got 2",
        ),
        (
            lambda: _bad_distiller(
                distillation_losses=shoal.distillation.FeatureDistillation(
                    teacher_layer_name="nope"
                )
            ),
            "In the teacher model: .*nope",
        ),
        (
            lambda: shoal.distillation.Distiller(
                *_pair(shoal, WEIGHTS, subclassed=True),
                shoal.distillation.FeatureDistillation(student_layer_name="feat"),
            ),
            "needs Functional or Sequential models .*; the teacher and student",
        ),
        (
            lambda: shoal.distillation.Distiller(
                _functional(shoal, "t", 8),
                shoal.Sequential([shoal.Input((5,)), shoal.layers.Dense(3)]),
                shoal.distillation.LogitsDistillation(),
            ),
            "inputs must match in shape and dtype; teacher \\(None, 6\\)",
        ),
        (lambda: shoal.distillation.Distiller(object(), None, []), "`teacher` must be a keras"),
        (lambda: shoal.distillation.LogitsDistillation(temperature=0), "`temperature` must be"),
        (lambda: shoal.distillation.LogitsDistillation(loss=[None]), "at least one loss"),
        (
            lambda: shoal.distillation.FeatureDistillation(loss="nope"),
            "unknown loss identifier 'nope'",
        ),
        (lambda: _bad_distiller().compile(loss=None), "argument `loss` .* is required"),
        (
            lambda: _bad_distiller().compile(loss="mse", metrics="accuracy"),
            "`metrics` must be a list or tuple; got str",
        ),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()
