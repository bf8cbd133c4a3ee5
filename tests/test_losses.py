"""shoal.losses against Keras 3 (JAX backend) on the same random inputs."""

import keras
import numpy as np
import pytest
from keras.src import backend as kbackend

import shoal.losses as L

B, C = 4, 3
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def _inputs(kind, seed=0, shape=(B, C)):
    rng = np.random.default_rng(seed)
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    logits = f32(rng.normal(size=shape) * 2)
    probs = f32(rng.uniform(0.02, 0.98, size=shape))
    softmax = f32(np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    onehot = f32(np.eye(shape[-1])[labels])
    binary = f32(rng.integers(0, 2, size=shape))
    return {
        "regression": (f32(rng.normal(size=shape)), logits),
        "positive": (f32(rng.uniform(0.1, 2.0, size=shape)), probs),
        "binary": (binary, probs),
        "binary_logits": (binary, logits),
        "signed": (2 * binary - 1, logits),
        "categorical": (onehot, softmax),
        "categorical_logits": (onehot, logits),
        "sparse": (labels, softmax),
        "sparse_logits": (labels, logits),
        "sparse_col": (labels[..., None], softmax),
    }[kind]


# (class name, kwargs, input kind): every class and option.
# fmt: off
CASES = [
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("Huber", {}, "regression"),
    ("Huber", {"delta": 0.5}, "regression"),
    ("LogCosh", {}, "regression"),
    ("CosineSimilarity", {}, "regression"),
    ("CosineSimilarity", {"axis": 0}, "regression"),
    ("KLDivergence", {}, "categorical"),
    ("Poisson", {}, "positive"),
    ("Hinge", {}, "binary_logits"),
    ("Hinge", {}, "signed"),
    ("SquaredHinge", {}, "binary_logits"),
    ("SquaredHinge", {}, "signed"),
    ("CategoricalHinge", {}, "categorical_logits"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True}, "binary_logits"),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary"),
    ("BinaryCrossentropy", {"axis": 0, "from_logits": True}, "binary_logits"),
    ("BinaryFocalCrossentropy", {}, "binary"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.3}, "binary"),
    ("BinaryFocalCrossentropy", {"gamma": 3.0, "from_logits": True}, "binary_logits"),
    ("BinaryFocalCrossentropy", {"label_smoothing": 0.2}, "binary"),
    ("CategoricalCrossentropy", {}, "categorical"),
    ("CategoricalCrossentropy", {"from_logits": True}, "categorical_logits"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1, "from_logits": True}, "categorical_logits"),
    ("CategoricalCrossentropy", {"axis": 0}, "categorical"),
    ("CategoricalFocalCrossentropy", {}, "categorical"),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 1.0, "from_logits": True}, "categorical_logits"),
    ("CategoricalFocalCrossentropy", {"label_smoothing": 0.1}, "categorical"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {}, "sparse_col"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 0, "from_logits": True}, "sparse_logits"),
]
# fmt: on
WEIGHTS = {
    "none": None,
    "per_sample": np.array([0.5, 2.0, 0.0, 1.0], np.float32),
    "column": np.array([[1.5], [0.0], [1.0], [3.0]], np.float32),
    "scalar": 2.0,
}


def _close(actual, expected, msg=""):
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-6, err_msg=msg
    )


def _case_id(case):
    name, kwargs, kind = case
    return f"{name}-{kind}-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


# With axis=0 the values are per class, not per sample: batch-shaped weights do not apply.
CLASS_PARAMS = [
    pytest.param(case, weight, id=f"{_case_id(case)}-{weight}")
    for case in CASES
    for weight in WEIGHTS
    if not (case[1].get("axis") == 0 and weight in ("per_sample", "column"))
]


@pytest.mark.parametrize("case,weight", CLASS_PARAMS)
def test_loss_class_matches_keras(case, weight):
    name, kwargs, kind = case
    y_true, y_pred = _inputs(kind)
    sw = WEIGHTS[weight]
    for reduction in REDUCTIONS:
        ours = getattr(L, name)(reduction=reduction, **kwargs)
        ref = getattr(keras.losses, name)(reduction=reduction, **kwargs)
        _close(
            ours(y_true, y_pred, sample_weight=sw),
            ref(y_true, y_pred, sample_weight=sw),
            f"reduction={reduction}",
        )


FUNCTION_NAMES = [
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "huber", "log_cosh", "cosine_similarity", "kl_divergence",
    "poisson", "hinge", "squared_hinge", "categorical_hinge", "binary_crossentropy",
    "binary_focal_crossentropy", "categorical_crossentropy", "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
]  # fmt: skip
_FN_KIND = {"mean_squared_logarithmic_error": "positive", "kl_divergence": "categorical",
            "poisson": "positive", "hinge": "signed", "squared_hinge": "signed",
            "categorical_hinge": "categorical_logits", "binary_crossentropy": "binary",
            "binary_focal_crossentropy": "binary", "categorical_crossentropy": "categorical",
            "categorical_focal_crossentropy": "categorical",
            "sparse_categorical_crossentropy": "sparse"}  # fmt: skip


@pytest.mark.parametrize("fn", FUNCTION_NAMES)
def test_loss_function_matches_keras(fn):
    y_true, y_pred = _inputs(_FN_KIND.get(fn, "regression"), seed=1)
    _close(getattr(L, fn)(y_true, y_pred), getattr(keras.losses, fn)(y_true, y_pred))


@pytest.mark.parametrize(
    "name,kwargs,kind",
    [
        ("MeanSquaredError", {}, "regression"),
        ("BinaryCrossentropy", {}, "binary"),
        ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
        ("SparseCategoricalCrossentropy", {"ignore_class": 2}, "sparse"),
    ],
)
def test_sequence_mask_matches_keras(name, kwargs, kind):
    """Rank-3 inputs with (B, T) sample weights and a (B, T) mask on y_pred."""
    y_true, y_pred = _inputs(kind, seed=2, shape=(B, 5, C))
    rng = np.random.default_rng(3)
    mask = rng.uniform(size=(B, 5)) > 0.3
    sw = rng.uniform(size=(B, 5)).astype(np.float32)
    for reduction in REDUCTIONS:
        for weight in (None, sw):
            ours = getattr(L, name)(reduction=reduction, **kwargs)._apply(
                y_true, y_pred, weight, mask
            )
            k_pred = keras.ops.convert_to_tensor(y_pred)
            kbackend.set_keras_mask(k_pred, keras.ops.convert_to_tensor(mask))
            ref = getattr(keras.losses, name)(reduction=reduction, **kwargs)(
                y_true, k_pred, sample_weight=weight
            )
            _close(ours, ref, f"reduction={reduction} weighted={weight is not None}")


def test_under_jit_and_grad():
    import jax

    y_true, y_pred = _inputs("categorical_logits")
    loss = L.CategoricalCrossentropy(from_logits=True)
    eager = loss(y_true, y_pred)
    _close(jax.jit(loss.__call__)(y_true, y_pred), eager)
    grad = jax.grad(lambda p: loss(y_true, p))(y_pred)
    ref = jax.nn.softmax(y_pred) - y_true
    _close(grad, ref / B)


@pytest.mark.parametrize("case", CASES[::3], ids=[_case_id(c) for c in CASES[::3]])
def test_config_round_trip_and_keras_interchange(case):
    name, kwargs, _ = case
    ours = getattr(L, name)(reduction="sum", **kwargs)
    config = ours.get_config()
    again = type(ours).from_config(config)
    assert again.get_config() == config
    keras_config = getattr(keras.losses, name)(reduction="sum", **kwargs).get_config()
    assert {k: config[k] for k in keras_config} == keras_config
    # Our config (a superset of Keras') loads in Keras, and Keras' loads here.
    assert getattr(keras.losses, name).from_config(config).get_config() == keras_config
    assert getattr(L, name).from_config(keras_config).name == keras_config["name"]
    serialized = L.serialize(ours)
    assert serialized == {
        "module": "keras.losses",
        "class_name": name,
        "config": config,
        "registered_name": None,
    }
    assert L.deserialize(serialized).get_config() == config


@pytest.mark.parametrize(
    "alias",
    ["mse", "MSE", "mae", "mape", "msle", "bce", "kld", "KLD", "mean_squared_error", "huber",
     "log_cosh", "poisson", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence",
     "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
     "cosine_similarity", "binary_focal_crossentropy", "categorical_focal_crossentropy"],
)  # fmt: skip
def test_string_aliases_resolve_like_keras(alias):
    ours, ref = L.get(alias), keras.losses.get(alias)
    assert ours.__name__ == ref.__name__
    assert L.deserialize(L.serialize(ours)) is ours


def test_get_class_names_and_objects():
    assert isinstance(L.get("CategoricalCrossentropy"), L.CategoricalCrossentropy)
    assert isinstance(L.get(L.Huber), L.Huber)
    loss = L.Huber(delta=3.0)
    assert L.get(loss) is loss
    got = L.get({"class_name": "BinaryCrossentropy", "config": {"from_logits": True}})
    assert got.from_logits is True
    assert L.get(None) is None


def test_function_wrapper_config_round_trip():
    wrapper = L.LossFunctionWrapper(L.huber, name="my_huber", delta=0.3)
    config = wrapper.get_config()
    assert config["fn"]["config"] == "huber" and config["delta"] == 0.3
    again = L.LossFunctionWrapper.from_config(config)
    y_true, y_pred = _inputs("regression")
    _close(again(y_true, y_pred), wrapper(y_true, y_pred))
    # Configs interchange with Keras both ways.
    from keras.src.losses import LossFunctionWrapper as KerasWrapper

    ref = KerasWrapper(keras.losses.huber, name="my_huber", delta=0.3)
    _close(KerasWrapper.from_config(config)(y_true, y_pred), ref(y_true, y_pred))
    _close(L.LossFunctionWrapper.from_config(ref.get_config())(y_true, y_pred), ref(y_true, y_pred))


def test_bad_identifiers_name_what_was_given():
    with pytest.raises(ValueError, match=r"'not_a_loss'.*expected one of.*'mse'"):
        L.get("not_a_loss")
    with pytest.raises(ValueError, match="'Nope'"):
        L.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(TypeError, match="got 3"):
        L.get(3)
    with pytest.raises(ValueError, match=r"`reduction`.*'avg'"):
        L.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match="same shape"):
        L.binary_crossentropy(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="`axis` must be an int"):
        L.categorical_crossentropy(np.zeros((2, 3)), np.ones((2, 3)), axis=True)


def test_dtype_policy():
    y_true, y_pred = _inputs("regression")
    assert L.MeanSquaredError(dtype="float16")(y_true, y_pred).dtype == np.float16
    assert L.MeanSquaredError(dtype="mixed_bfloat16").dtype == "bfloat16"
    assert L.Loss().name.startswith("loss")
