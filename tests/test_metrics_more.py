"""PearsonCorrelation and ConcordanceCorrelation against Keras 3 (JAX backend)."""

import jax
import keras
import numpy as np
import pytest

import shoal
import shoal.metrics as M

B, D = 6, 5
NAMES = ["PearsonCorrelation", "ConcordanceCorrelation"]
FUNCTIONS = ["pearson_correlation", "concordance_correlation"]


def _close(actual, expected, msg=""):
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-5, err_msg=msg
    )


def _batch(seed, shape=(B, D)):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(size=shape).astype(np.float32)
    y_pred = (0.7 * y_true + 0.5 * rng.normal(size=shape) + 0.3).astype(np.float32)
    weights = rng.uniform(0.0, 2.0, size=shape[0]).astype(np.float32)
    return y_true, y_pred, weights


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("axis", [-1, 0, (0, 1)])
@pytest.mark.parametrize("weighted", [False, True])
def test_metric_matches_keras_over_several_updates(name, axis, weighted):
    ours, ref = getattr(M, name)(axis=axis), getattr(keras.metrics, name)(axis=axis)
    for seed in range(3):
        y_true, y_pred, sw = _batch(seed)
        if axis != -1:  # per-sample weights only apply to per-sample values
            sw = 1.5
        kwargs = {"sample_weight": sw} if weighted else {}
        ours.update_state(y_true, y_pred, **kwargs)
        ref.update_state(y_true, y_pred, **kwargs)
        _close(ours.result(), ref.result(), f"after update {seed}")
    assert [v.path for v in ours.variables] == [v.path for v in ref.variables]
    for a, b in zip(ours.variables, ref.variables, strict=True):
        _close(a.value, b.value)
    ours.reset_state()
    ref.reset_state()
    _close(ours.result(), ref.result())
    assert float(ours.result()) == 0.0


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("shape,axis", [((B, D), -1), ((B, D), 0), ((B, 3, 4), (1, 2))])
def test_function_matches_keras(fn, shape, axis):
    y_true, y_pred, _ = _batch(7, shape)
    _close(
        getattr(M, fn)(y_true, y_pred, axis=axis),
        getattr(keras.metrics, fn)(y_true, y_pred, axis=axis),
    )


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_function_aligns_column_labels_like_keras(fn):
    y_true, y_pred, _ = _batch(8, (B, 1))
    _close(
        getattr(M, fn)(y_true[:, 0], y_pred, axis=0),
        getattr(keras.metrics, fn)(y_true[:, 0], y_pred, axis=0),
    )


@pytest.mark.parametrize("name", NAMES)
def test_stateless_under_jit_equals_stateful(name):
    metric = getattr(M, name)()
    update = jax.jit(
        lambda v, yt, yp, sw: metric.stateless_update_state(v, yt, yp, sample_weight=sw)
    )
    values = metric.stateless_reset_state()
    stateful = getattr(M, name)()
    for seed in range(2):
        y_true, y_pred, sw = _batch(seed)
        values = update(values, y_true, y_pred, sw)
        stateful.update_state(y_true, y_pred, sample_weight=sw)
    _close(jax.jit(metric.stateless_result)(values), stateful.result())
    assert float(metric.result()) == 0.0  # the pure API left the metric's variables alone


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_and_keras_interchange(name):
    ours = getattr(M, name)(name="corr", axis=0)
    config = ours.get_config()
    keras_config = getattr(keras.metrics, name)(name="corr", axis=0).get_config()
    assert config == keras_config
    again = getattr(M, name).from_config(config)
    assert again.get_config() == config and again.axis == 0
    assert getattr(keras.metrics, name).from_config(config).get_config() == keras_config
    restored = M.deserialize(M.serialize(ours))
    assert type(restored) is type(ours) and restored.get_config() == config


@pytest.mark.parametrize("name,fn", list(zip(NAMES, FUNCTIONS, strict=True)))
def test_lookup_by_name_like_keras(name, fn):
    for key in (name, fn):
        assert type(M.get(key)) is getattr(M, name)
        assert type(keras.metrics.get(key)).__name__ == name


@pytest.mark.parametrize(
    "make",
    [
        lambda: M.PearsonCorrelation(axis="last"),
        lambda: M.ConcordanceCorrelation(axis=1.0),
        lambda: M.pearson_correlation([1.0], [1.0], axis=None),
    ],
)
def test_bad_axis_names_argument_and_value(make):
    with pytest.raises(ValueError, match="`axis`.*got") as info:
        make()
    assert "int" in str(info.value)


def test_compile_fit_evaluate_with_correlation_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = (x @ rng.normal(size=(3, 4))).astype(np.float32)
    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(4)])
    model.compile(
        optimizer=shoal.optimizers.Adam(0.05),
        loss="mse",
        metrics=[M.PearsonCorrelation(), "concordance_correlation"],
    )
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "pearson_correlation", "concordance_correlation"}
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = np.asarray(model.predict(x, verbose=0))
    # Full-batch evaluate: the mean over samples of each per-row coefficient.
    _close(logs["pearson_correlation"], np.mean(keras.metrics.pearson_correlation(y, pred)))
    _close(logs["concordance_correlation"], np.mean(keras.metrics.concordance_correlation(y, pred)))
