"""Dice, Tversky, CategoricalGeneralizedCrossEntropy and Circle against Keras 3 (JAX)."""

import jax
import keras
import numpy as np
import pytest

import shoal
import shoal.losses as L

B = 4
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]
WEIGHTS = {
    "none": None,
    "per_sample": np.array([0.5, 2.0, 0.0, 1.0], np.float32),
    "scalar": 2.0,
}


def _close(actual, expected, msg=""):
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-5, err_msg=msg
    )


def _inputs(kind, seed=0):
    rng = np.random.default_rng(seed)
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    if kind == "mask":  # soft segmentation masks (B, H, W, 1)
        return f32(rng.integers(0, 2, (B, 3, 3, 1))), f32(rng.uniform(0, 1, (B, 3, 3, 1)))
    if kind == "mask2d":
        return f32(rng.integers(0, 2, (B, 5))), f32(rng.uniform(0, 1, (B, 5)))
    if kind == "sparse":  # integer labels, probabilities
        p = rng.uniform(0.05, 1.0, (B, 3))
        return rng.integers(0, 3, B), f32(p / p.sum(-1, keepdims=True))
    if kind == "sparse_col":
        y, p = _inputs("sparse", seed)
        return y[:, None], p
    if kind == "embeddings":  # labels 0, 0, 1, 2: rows 2 and 3 have no positive pair
        e = rng.normal(size=(B, 6))
        return np.array([0, 0, 1, 2]), f32(e / np.linalg.norm(e, axis=-1, keepdims=True))
    if kind == "embeddings_pairs":
        y, e = _inputs("embeddings", seed)
        return np.array([0, 1, 0, 1]), e
    raise AssertionError(kind)


# fmt: off
CASES = [
    ("Dice", {}, "mask"),
    ("Dice", {"axis": (1, 2, 3)}, "mask"),
    ("Dice", {"axis": -1}, "mask2d"),
    ("Tversky", {}, "mask"),
    ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": (1, 2, 3)}, "mask"),
    ("Tversky", {"alpha": 0.8, "beta": 0.1, "axis": 1}, "mask2d"),
    ("CategoricalGeneralizedCrossEntropy", {}, "sparse"),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.2}, "sparse"),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.7}, "sparse_col"),
    ("Circle", {}, "embeddings"),
    ("Circle", {"gamma": 4.0, "margin": 0.25}, "embeddings_pairs"),
    ("Circle", {"gamma": 2.0, "remove_diagonal": False}, "embeddings"),
]
# fmt: on


def _id(case):
    name, kwargs, kind = case
    return f"{name}-{kind}-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


# A scalar loss (axis=None) takes only scalar weights, as in Keras.
PARAMS = [
    pytest.param(case, w, id=f"{_id(case)}-{w}")
    for case in CASES
    for w in WEIGHTS
    if not (w == "per_sample" and case[0] in ("Dice", "Tversky") and "axis" not in case[1])
]


@pytest.mark.parametrize("case,weight", PARAMS)
def test_loss_class_matches_keras(case, weight):
    name, kwargs, kind = case
    y_true, y_pred = _inputs(kind)
    sw = WEIGHTS[weight]
    for reduction in REDUCTIONS:
        ours = getattr(L, name)(reduction=reduction, **kwargs)(y_true, y_pred, sample_weight=sw)
        ref = getattr(keras.losses, name)(reduction=reduction, **kwargs)(
            y_true, y_pred, sample_weight=sw
        )
        assert np.shape(ours) == np.shape(ref)
        _close(ours, ref, f"reduction={reduction}")


def test_circle_masks_rows_without_positives():
    """Rows 2 and 3 have no positive pair: loss 0, left out of the batch mean."""
    y_true, y_pred = _inputs("embeddings")
    values = L.Circle(reduction=None)(y_true, y_pred)
    assert np.all(np.asarray(values)[2:] == 0) and np.all(np.asarray(values)[:2] > 0)
    _close(L.Circle()(y_true, y_pred), np.mean(np.asarray(values)[:2]))


@pytest.mark.parametrize(
    "fn,kwargs,kind",
    [
        ("dice", {}, "mask"),
        ("dice", {"axis": (1, 2)}, "mask"),
        ("tversky", {"alpha": 0.2, "beta": 0.9, "axis": -1}, "mask2d"),
        ("categorical_generalized_cross_entropy", {"q": 0.4}, "sparse"),
        ("circle", {}, "embeddings_pairs"),
        ("circle", {"gamma": 3.0, "margin": 0.1, "remove_diagonal": False}, "embeddings"),
    ],
)
def test_function_matches_keras(fn, kwargs, kind):
    y_true, y_pred = _inputs(kind, seed=1)
    _close(
        getattr(L, fn)(y_true, y_pred, **kwargs),
        getattr(keras.losses, fn)(y_true, y_pred, **kwargs),
    )


def test_circle_reference_embeddings_match_keras():
    y_true, y_pred = _inputs("embeddings_pairs", seed=2)
    ref_labels, ref_emb = _inputs("embeddings", seed=3)
    kwargs = {"ref_labels": ref_labels, "ref_embeddings": ref_emb, "gamma": 5.0}
    _close(L.circle(y_true, y_pred, **kwargs), keras.losses.circle(y_true, y_pred, **kwargs))


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_config_round_trip_and_keras_interchange(case):
    name, kwargs, _ = case
    ours = getattr(L, name)(reduction="sum", **kwargs)
    config = ours.get_config()
    keras_config = getattr(keras.losses, name)(reduction="sum", **kwargs).get_config()
    assert set(config) == set(keras_config)
    assert config == keras_config
    assert type(ours).from_config(config).get_config() == config
    assert getattr(keras.losses, name).from_config(config).get_config() == keras_config
    again = L.deserialize(L.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == config


@pytest.mark.parametrize(
    "name", ["dice", "tversky", "circle", "categorical_generalized_cross_entropy"]
)
def test_lookup_by_name_like_keras(name):
    assert L.get(name) is getattr(L, name)
    if name == "categorical_generalized_cross_entropy":
        # Keras 3.15 leaves this one out of its name table; resolving it here is a superset.
        with pytest.raises(ValueError):
            keras.losses.get(name)
    else:
        assert keras.losses.get(name) is getattr(keras.losses, name)
    cls_name = {"dice": "Dice", "tversky": "Tversky", "circle": "Circle"}.get(
        name, "CategoricalGeneralizedCrossEntropy"
    )
    assert isinstance(L.get(cls_name), getattr(L, cls_name))


def test_jit_and_gradient():
    y_true, y_pred = _inputs("mask")
    loss = L.Dice(axis=(1, 2, 3))
    _close(jax.jit(loss.__call__)(y_true, y_pred), loss(y_true, y_pred))
    grad = jax.grad(lambda p: loss(y_true, p))(y_pred)
    assert np.all(np.isfinite(np.asarray(grad))) and np.any(np.asarray(grad) != 0)
    labels, emb = _inputs("embeddings")
    grad = jax.grad(lambda e: L.Circle(gamma=4.0)(labels, e))(emb)
    assert np.all(np.isfinite(np.asarray(grad))) and np.any(np.asarray(grad) != 0)


@pytest.mark.parametrize(
    "make,argument",
    [
        (lambda: L.CategoricalGeneralizedCrossEntropy(q=1.5), "`q`"),
        (lambda: L.CategoricalGeneralizedCrossEntropy(q=0), "`q`"),
        (lambda: L.Dice(axis="rows"), "`axis`"),
        (lambda: L.Tversky(alpha="a"), "`alpha`"),
        (lambda: L.Tversky(beta=None), "`beta`"),
        (lambda: L.Circle(gamma="big"), "`gamma`"),
        (lambda: L.Circle(remove_diagonal="yes"), "`remove_diagonal`"),
        (lambda: L.Dice(reduction="avg"), "`reduction`"),
        (lambda: L.tversky([1.0], [1.0], axis=1.5), "`axis`"),
    ],
)
def test_bad_arguments_name_argument_and_value(make, argument):
    with pytest.raises(ValueError, match=argument) as info:
        make()
    assert "got" in str(info.value)


def test_fit_with_dice_loss_and_string_lookup():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x[:, :3] > 0).astype(np.float32)
    model = shoal.Sequential([shoal.Input((4,)), shoal.layers.Dense(3, activation="sigmoid")])
    model.compile(
        optimizer=shoal.optimizers.Adam(0.05), loss="dice", metrics=["pearson_correlation"]
    )
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "pearson_correlation"}
    assert history.history["loss"][-1] < history.history["loss"][0]
