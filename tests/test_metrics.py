"""shoal.metrics against Keras 3 (JAX backend): two weighted updates, pure API, config."""

import jax
import keras
import numpy as np
import pytest

import shoal.metrics as M

B, C = 8, 4

# Keras' own IoU code casts indices to int64, which JAX (without x64) warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Explicitly requested dtype int64:UserWarning")


def _batch(kind, seed):
    rng = np.random.default_rng(seed)
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    scores = f32(rng.uniform(0.01, 0.99, size=(B, C)))
    softmax = f32(scores / scores.sum(-1, keepdims=True))
    labels = rng.integers(0, C, size=B)
    onehot = f32(np.eye(C)[labels])
    multilabel = f32(rng.integers(0, 2, size=(B, C)))
    binary = f32(rng.integers(0, 2, size=B))
    logits = f32(rng.normal(size=(B, C)) * 2)
    return {
        "binary": (binary, scores[:, 0]),
        "binary_col": (binary[:, None], scores[:, :1]),
        "binary_logits": (binary, logits[:, 0]),
        "multilabel": (multilabel, scores),
        "multilabel_logits": (multilabel, logits),
        "categorical": (onehot, softmax),
        "categorical_logits": (onehot, logits),
        "sparse": (labels, softmax),
        "sparse_col": (labels[:, None], softmax),
        "sorted_ids": (labels, f32(np.argsort(-softmax, axis=-1))),
        "equal": (labels, np.where(rng.uniform(size=B) > 0.5, labels, (labels + 1) % C)),
        "regression": (f32(rng.normal(size=(B, C))), logits),
        "positive": (f32(rng.uniform(0.1, 2.0, size=(B, C))), scores),
        "signed": (2 * multilabel - 1, logits),
        "segmentation": (labels, rng.integers(0, C, size=B)),
    }[kind]


def _weights(kind, seed):
    rng = np.random.default_rng(100 + seed)
    if kind == "int":  # IoU metrics accumulate in int32 (as Keras)
        return rng.integers(0, 3, size=B).astype(np.int32)
    return rng.uniform(0.0, 2.0, size=B).astype(np.float32)


# (class name, kwargs, input kind[, weight kind]): every metric and option.
# fmt: off
CASES = [
    ("Accuracy", {}, "equal"),
    ("BinaryAccuracy", {}, "multilabel"),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary"),
    ("CategoricalAccuracy", {}, "categorical"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_col"),
    ("TopKCategoricalAccuracy", {"k": 2}, "categorical"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    ("SparseTopKCategoricalAccuracy", {"k": 2, "from_sorted_ids": True}, "sorted_ids"),
    ("AUC", {}, "binary"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"curve": "PRGAIN"}, "multilabel"),
    ("AUC", {"summation_method": "minoring"}, "multilabel"),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, "binary_col"),
    ("AUC", {"num_thresholds": 7}, "binary"),
    ("AUC", {"thresholds": [0.2, 0.5, 0.7]}, "multilabel"),
    ("AUC", {"multi_label": True}, "multilabel"),
    ("AUC", {"multi_label": True, "num_labels": C, "label_weights": [1.0, 2.0, 0.5, 0.0], "curve": "PR"}, "multilabel"),
    ("AUC", {"label_weights": [1.0, 2.0, 0.5, 0.0]}, "multilabel"),
    ("AUC", {"from_logits": True}, "binary_logits"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.3, 0.6]}, "multilabel"),
    ("Precision", {"thresholds": [0.0, 0.5, 1.0]}, "multilabel"),
    ("Precision", {"top_k": 2}, "multilabel"),
    ("Precision", {"class_id": 1}, "multilabel"),
    ("Recall", {}, "binary_col"),
    ("Recall", {"thresholds": [0.3, 0.6]}, "multilabel"),
    ("Recall", {"top_k": 1, "class_id": 2}, "multilabel"),
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.2, 0.8]}, "multilabel"),
    ("TrueNegatives", {}, "multilabel"),
    ("FalseNegatives", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, "binary"),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, "binary"),
    ("SpecificityAtSensitivity", {"sensitivity": 0.6, "num_thresholds": 11}, "multilabel"),
    ("PrecisionAtRecall", {"recall": 0.5, "class_id": 1}, "multilabel"),
    ("RecallAtPrecision", {"precision": 0.4, "num_thresholds": 1}, "binary"),
    ("F1Score", {}, "multilabel"),
    ("F1Score", {"average": "micro"}, "categorical"),
    ("F1Score", {"average": "macro", "threshold": 0.5}, "multilabel"),
    ("F1Score", {"average": "weighted"}, "categorical"),
    ("FBetaScore", {"beta": 2.0, "average": "macro"}, "multilabel"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("RootMeanSquaredError", {}, "regression"),
    ("CosineSimilarity", {}, "regression"),
    ("LogCoshError", {}, "regression"),
    ("R2Score", {}, "regression"),
    ("R2Score", {"class_aggregation": None}, "regression"),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2}, "regression"),
    ("R2Score", {"num_regressors": 20}, "regression"),
    ("MeanIoU", {"num_classes": C}, "segmentation", "int"),
    ("MeanIoU", {"num_classes": C, "ignore_class": 0}, "segmentation", "int"),
    ("IoU", {"num_classes": C, "target_class_ids": [0, 2]}, "segmentation", "int"),
    ("BinaryIoU", {"threshold": 0.4}, "binary", "int"),
    ("OneHotIoU", {"num_classes": C, "target_class_ids": [1, 3]}, "categorical", "int"),
    ("OneHotMeanIoU", {"num_classes": C}, "categorical", "int"),
    ("BinaryCrossentropy", {}, "multilabel"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "multilabel_logits"),
    ("CategoricalCrossentropy", {}, "categorical"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "categorical_logits"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
    ("KLDivergence", {}, "categorical"),
    ("Poisson", {}, "positive"),
    ("Hinge", {}, "signed"),
    ("SquaredHinge", {}, "multilabel_logits"),
    ("CategoricalHinge", {}, "categorical_logits"),
]
# fmt: on


def _case_id(case):
    return f"{case[0]}-{case[2]}-" + ",".join(f"{k}={v}" for k, v in case[1].items())


IDS = [_case_id(c) for c in CASES]


def _updates(case, weighted=True):
    kind, weight_kind = case[2], (case[3] if len(case) > 3 else "float")
    for seed in (0, 1):
        y_true, y_pred = _batch(kind, seed)
        yield y_true, y_pred, (_weights(weight_kind, seed) if weighted else None)


def _tolerance(name):
    return {"rtol": 1e-4, "atol": 1e-5} if name == "AUC" else {"rtol": 1e-5, "atol": 1e-6}


def _run(metric, case, weighted=True):
    for y_true, y_pred, sw in _updates(case, weighted):
        metric.update_state(y_true, y_pred, sample_weight=sw)
    return np.asarray(metric.result())


@pytest.mark.parametrize("weighted", [True, False], ids=["weighted", "unweighted"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_metric_matches_keras(case, weighted):
    name, kwargs = case[0], case[1]
    ours = _run(getattr(M, name)(**kwargs), case, weighted)
    ref = _run(getattr(keras.metrics, name)(**kwargs), case, weighted)
    np.testing.assert_allclose(ours, ref, **_tolerance(name))


def _unique_by_class(cases):
    seen, out = set(), []
    for case in cases:
        key = (case[0], tuple(case[1]))
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out


JIT_CASES = _unique_by_class(CASES)


@pytest.mark.parametrize("case", JIT_CASES, ids=[_case_id(c) for c in JIT_CASES])
def test_stateless_under_jit_equals_stateful(case):
    name, kwargs = case[0], case[1]
    stateful = getattr(M, name)(**kwargs)
    expected = _run(stateful, case)

    metric = getattr(M, name)(**kwargs)
    first_true, first_pred, _ = next(_updates(case))
    metric.build(np.shape(first_true), np.shape(first_pred))  # eager: data-shaped variables
    update = jax.jit(
        lambda v, yt, yp, sw: metric.stateless_update_state(v, yt, yp, sample_weight=sw)
    )
    values = metric.stateless_reset_state()
    for y_true, y_pred, sw in _updates(case):
        values = update(values, y_true, y_pred, sw)
    result = jax.jit(metric.stateless_result)(values)
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-6, atol=1e-6)
    # The pure API left the metric's own variables untouched.
    for v in metric.variables:
        assert not np.any(np.asarray(v.value))


@pytest.mark.parametrize("case", JIT_CASES[::4], ids=[_case_id(c) for c in JIT_CASES[::4]])
def test_reset_state(case):
    name, kwargs = case[0], case[1]
    metric = getattr(M, name)(**kwargs)
    _run(metric, case)
    metric.reset_state()
    for v in metric.variables:
        assert not np.any(np.asarray(v.value)), v.path
    for value in metric.stateless_reset_state():
        assert not np.any(np.asarray(value))
    np.testing.assert_allclose(
        _run(metric, case), _run(getattr(M, name)(**kwargs), case), rtol=1e-6
    )


def _jsonable(config):
    return {k: (np.asarray(v).tolist() if hasattr(v, "shape") else v) for k, v in config.items()}


@pytest.mark.parametrize("case", JIT_CASES, ids=[_case_id(c) for c in JIT_CASES])
def test_config_round_trip_and_keras_interchange(case):
    name, kwargs = case[0], case[1]
    ours = getattr(M, name)(name="m", **kwargs)
    config = ours.get_config()
    assert getattr(M, name).from_config(config).get_config() == config
    keras_config = _jsonable(getattr(keras.metrics, name)(name="m", **kwargs).get_config())
    assert {k: config[k] for k in keras_config} == keras_config
    assert _jsonable(getattr(keras.metrics, name).from_config(config).get_config()) == keras_config
    serialized = M.serialize(ours)
    assert serialized["module"] == "keras.metrics" and serialized["class_name"] == name
    assert M.deserialize(serialized).get_config() == config


def test_mean_and_sum_match_keras():
    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    for sw in (None, np.array([1.0, 0.0, 2.0, 0.5], np.float32), np.ones((4, 3), np.float32) * 0.5):
        for name in ("Mean", "Sum"):
            ours, ref = getattr(M, name)(), getattr(keras.metrics, name)()
            for _ in range(2):
                ours.update_state(values, sample_weight=sw)
                ref.update_state(values, sample_weight=sw)
            np.testing.assert_allclose(ours.result(), ref.result(), rtol=1e-6)
    assert [v.path for v in M.Mean(name="loss").variables] == ["loss/total", "loss/count"]


def test_mean_metric_wrapper_function_and_mask():
    y_true, y_pred = _batch("multilabel", 0)
    sw = _weights("float", 0)
    ours = M.MeanMetricWrapper(M.binary_accuracy, name="acc", threshold=0.3)
    ref = keras.metrics.MeanMetricWrapper(keras.metrics.binary_accuracy, name="acc", threshold=0.3)
    ours.update_state(y_true, y_pred, sample_weight=sw)
    ref.update_state(y_true, y_pred, sample_weight=sw)
    np.testing.assert_allclose(ours.result(), ref.result(), rtol=1e-6)
    config = ours.get_config()
    assert config["fn"]["config"] == "binary_accuracy" and config["threshold"] == 0.3
    for again in (
        M.MeanMetricWrapper.from_config(config),
        M.MeanMetricWrapper.from_config(ref.get_config()),
    ):
        again.update_state(y_true, y_pred, sample_weight=sw)
        np.testing.assert_allclose(again.result(), ours.result())
    from_ours = keras.metrics.MeanMetricWrapper.from_config(config)
    from_ours.update_state(y_true, y_pred, sample_weight=sw)
    np.testing.assert_allclose(from_ours.result(), ours.result(), rtol=1e-6)
    # A mask on y_pred zeroes the weight of masked samples.
    mask = np.array([True, False] * (B // 2))
    masked = M.MeanMetricWrapper(M.mean_squared_error)
    masked.update_state(y_true, y_pred, mask=mask)
    expected = np.mean(((y_true - y_pred) ** 2).mean(-1)[mask])
    np.testing.assert_allclose(masked.result(), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "identifier,cls",
    [("mse", "MeanSquaredError"), ("MAE", "MeanAbsoluteError"), ("mape", "MeanAbsolutePercentageError"),
     ("msle", "MeanSquaredLogarithmicError"), ("bce", "BinaryCrossentropy"), ("auc", "AUC"),
     ("binary_accuracy", "BinaryAccuracy"), ("categorical_accuracy", "CategoricalAccuracy"),
     ("sparse_categorical_accuracy", "SparseCategoricalAccuracy"), ("precision", "Precision"),
     ("top_k_categorical_accuracy", "TopKCategoricalAccuracy"), ("recall", "Recall"),
     ("sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy"), ("f1_score", "F1Score"),
     ("r2_score", "R2Score"), ("sum", "Sum"), ("RootMeanSquaredError", "RootMeanSquaredError"),
     ("log_cosh_error", "LogCoshError"), ("kl_divergence", "KLDivergence")],
)  # fmt: skip
def test_string_identifiers_resolve_like_keras(identifier, cls):
    ours = M.get(identifier)
    assert type(ours).__name__ == cls
    assert type(keras.metrics.get(identifier)).__name__ == cls


def test_keras_identifier_table_is_covered():
    from keras.src.metrics import ALL_OBJECTS_DICT

    missing = {k for k, v in ALL_OBJECTS_DICT.items() if "Correlation" not in v.__name__} - set(
        M.ALL_OBJECTS
    )
    assert not missing


def test_get_objects_classes_dicts():
    metric = M.AUC(num_thresholds=10)
    assert M.get(metric) is metric
    assert isinstance(M.get(M.Precision), M.Precision)
    assert M.get({"class_name": "BinaryAccuracy", "config": {"threshold": 0.2}}).threshold == 0.2
    assert M.get(M.binary_accuracy) is M.binary_accuracy
    assert M.get(None) is None


def test_bad_identifiers_and_arguments_name_what_was_given():
    with pytest.raises(ValueError, match=r"'not_a_metric'.*expected one of.*'auc'"):
        M.get("not_a_metric")
    with pytest.raises(ValueError, match="'Nope'"):
        M.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(TypeError, match="got 3"):
        M.get(3)
    with pytest.raises(ValueError, match=r"`curve`.*'XYZ'"):
        M.AUC(curve="XYZ")
    with pytest.raises(ValueError, match=r"`thresholds`.*\[1.5\]"):
        M.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match=r"`average`.*'median'"):
        M.F1Score(average="median")
    with pytest.raises(ValueError, match=r"`class_aggregation`.*'max'"):
        M.R2Score(class_aggregation="max")
    metric = M.F1Score()
    with pytest.raises(ValueError, match="call `build"):
        metric.stateless_update_state([], np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"one array per variable \(2\); got 1"):
        M.Mean().stateless_update_state([np.float32(0)], np.ones(3))


@pytest.mark.parametrize(
    "y_true_shape,y_pred_shape,expected",
    [((8, 1), (8, 1), "BinaryAccuracy"), ((8,), (8, 1), "BinaryAccuracy"),
     ((8,), (8, 5), "SparseCategoricalAccuracy"), ((8, 1), (8, 5), "SparseCategoricalAccuracy"),
     ((8, 5), (8, 5), "CategoricalAccuracy"), ((8, 7), (8, 7, 5), "SparseCategoricalAccuracy"),
     ((8, 7, 5), (8, 7, 5), "CategoricalAccuracy")],
)  # fmt: skip
def test_resolve_accuracy_follows_keras_compile_rule(y_true_shape, y_pred_shape, expected):
    from keras.src.trainers.compile_utils import get_metric

    metric = M.resolve_accuracy("categorical_crossentropy", y_true_shape, y_pred_shape, name="acc")
    assert type(metric).__name__ == expected and metric.name == "acc"
    ref = get_metric("acc", np.zeros(y_true_shape), np.zeros(y_pred_shape))
    assert type(ref).__name__ == expected


class _Composite(M.Metric):
    """A user metric holding sub-metrics and a variable of its own."""

    def __init__(self):
        super().__init__(name="composite")
        self.parts = [M.Mean(name="a"), M.Sum(name="b")]
        self.calls = self.add_variable((), "ones", name="calls")

    def update_state(self, values, sample_weight=None):
        for part in self.parts:
            part.update_state(values, sample_weight=sample_weight)
        self.calls.assign(self.calls.value + 1)

    def result(self):
        return self.parts[0].result() + self.parts[1].result() + self.calls.value


def test_custom_metric_with_submetrics_pure_api():
    metric = _Composite()
    assert [v.path for v in metric.variables] == [
        "composite/calls",
        "a/total",
        "a/count",
        "b/total",
    ]
    values = [v.value for v in metric.variables]
    step = jax.jit(lambda vs, x, sw: metric.stateless_update_state(vs, x, sample_weight=sw))
    batches = [(np.arange(4.0, dtype=np.float32), np.array([1, 0, 2, 1], np.float32))] * 2
    for x, sw in batches:
        values = step(values, x, sw)
    for x, sw in batches:
        metric.update_state(x, sample_weight=sw)
    np.testing.assert_allclose(jax.jit(metric.stateless_result)(values), metric.result())
    assert float(metric([1.0])) == pytest.approx(float(metric.result()))
