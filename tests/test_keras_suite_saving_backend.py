"""Faults found by running Keras 3.15's own saving / backend-common / random / tree / dtype
policy unit tests against shoal; each test compares with Keras 3.15 where it can."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
import pytest

import shoal


def _np(x):
    return np.asarray(x)


# -- Variable ---------------------------------------------------------------------------


def test_variable_string_initializer_and_host_dtype():
    for lib in (keras, shoal):
        v = lib.Variable("ones", shape=(2,), dtype="int16")
        assert (str(v.dtype), _np(v).tolist()) == ("int16", [1, 1])
    # A nested list of ints is int32 (not floatx), a float scalar float32, as in Keras.
    for value, dtype in (([[1, 1], [1, 1]], "int32"), (2.0, "float32"), ([True], "bool")):
        assert shoal.Variable(value).dtype == keras.Variable(value).dtype == dtype


def test_variable_operators_match_keras():
    data = np.array([1.2, 2.0, 3.7], "float32")
    kv, sv = keras.Variable(data), shoal.Variable(data)
    for op in (
        lambda v: v == 2.0,
        lambda v: v != 2.0,
        lambda v: round(v),
        lambda v: v == np.array([1.2, 0.0, 3.7], "float32"),
    ):
        np.testing.assert_array_equal(_np(op(sv)), _np(op(kv)))
    mask = np.array([True, False, True])
    kb, sb = keras.Variable(mask), shoal.Variable(mask)
    for op in (lambda v: v ^ True, lambda v: False ^ v, lambda v: ~v):
        np.testing.assert_array_equal(_np(op(sb)), _np(op(kb)))
    # Variables still compare by identity with each other and work in lists / as keys.
    assert sv in [sv] and sv not in [None, "x"] and {sv: 1}[sv] == 1
    assert sv.overwrite_with_gradient is False
    assert "value=[1.2 2.  3.7]" in repr(sv)


# -- KerasTensor --------------------------------------------------------------------------


def test_keras_tensor_logical_operators():
    def build(lib):
        a, b = lib.Input((3,), dtype="bool"), lib.Input((3,), dtype="bool")
        return lib.Model([a, b], [a & b, a | b, a ^ b, ~a, a != b, True & a])

    x = np.array([[True, False, True]])
    y = np.array([[True, True, False]])
    ours = build(shoal).predict([x, y], verbose=0)
    theirs = build(keras).predict([x, y], verbose=0)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(o, t)
    f = shoal.Input((2,))
    assert round(f).shape == (None, 2)


# -- scopes -------------------------------------------------------------------------------


def test_stateless_scope_checks_its_mapping():
    v = shoal.Variable(np.zeros((2,), "float32"))
    with pytest.raises(ValueError, match="keys in argument `mapping` must be Variable"):
        shoal.StatelessScope(state_mapping=[("v", np.ones((2,)))])
    with pytest.raises(ValueError, match="values in argument `mapping` must be tensors with"):
        shoal.StatelessScope(state_mapping=[(v, np.ones((3,)))])
    with shoal.StatelessScope(state_mapping=[(v, [1, 2])]):  # converted to the var's dtype
        assert str(v.value.dtype) == "float32"
        np.testing.assert_array_equal(_np(v.value), [1.0, 2.0])


def test_name_scope_override_parent_is_absolute():
    for lib in (keras, shoal):
        with lib.name_scope("outer"):
            with lib.name_scope("middle", override_parent="/absolute/path"):
                v = lib.Variable(1.0, name="v")
        assert v.path == "absolute/path/middle/v"


# -- random -------------------------------------------------------------------------------


def test_random_accepts_lists_and_none_in_noise_shape():
    for lib in (keras, shoal):
        b = lib.random.beta((1, 3), [[7.0, 0.5, 1.5]], [[15.0, 0.9, 4.5]], seed=1)
        n = lib.random.binomial((2,), [10.0, 20.0], [0.1, 0.5], seed=1)
        x = lib.random.dropout(np.ones((2, 3, 5, 7)), 0.3, noise_shape=[None, 3, 5, None], seed=0)
        assert (tuple(b.shape), tuple(n.shape), tuple(x.shape)) == ((1, 3), (2,), (2, 3, 5, 7))
    out = _np(shoal.random.dropout(np.ones((4, 6)), 0.5, noise_shape=[None, 1], seed=0))
    assert all(len(set(row)) == 1 for row in out.tolist())  # one draw per row


def test_random_dtype_checks_raise_value_error():
    for lib in (keras, shoal):
        with pytest.raises(ValueError, match="randint` requires an integer `dtype`"):
            lib.random.randint((3,), 0, 10, dtype="float32")
        with pytest.raises(ValueError, match="uniform` requires a floating point `dtype`"):
            lib.random.uniform((3,), dtype="int32")


def test_seed_generator_serialization_round_trip():
    sg = shoal.random.SeedGenerator(seed=42, name="sg")
    config = shoal.saving.serialize_keras_object(sg)
    ref = keras.saving.serialize_keras_object(keras.random.SeedGenerator(seed=42, name="sg"))
    assert (config["module"], config["class_name"]) == (ref["module"], ref["class_name"])
    revived = shoal.saving.deserialize_keras_object(ref)
    assert isinstance(revived, shoal.random.SeedGenerator)
    assert revived.get_config() == {"seed": 42, "name": "sg"}


# -- dtype policies -----------------------------------------------------------------------


def test_dtype_policy_without_name_follows_global_policy():
    try:
        for lib in (keras, shoal):
            lib.config.set_dtype_policy("mixed_bfloat16")
            policy = lib.dtype_policies.DTypePolicy()
            assert (policy.name, policy.compute_dtype) == ("mixed_bfloat16", "bfloat16")
            q = lib.dtype_policies.QuantizedDTypePolicy("int8")
            assert q.name == "int8_from_mixed_bfloat16"
    finally:
        keras.config.set_dtype_policy("float32")
        shoal.config.set_dtype_policy(None)
    with pytest.raises(TypeError, match="'name' must be a string"):
        shoal.dtype_policies.DTypePolicy(123)
    with pytest.raises(ValueError):
        shoal.dtype_policies.DTypePolicy("")


def test_dtype_policy_map_semantics_and_config():
    def fill(lib):
        m = lib.dtype_policies.DTypePolicyMap(default_policy="float32")
        m["model/encoder/dense"] = lib.dtype_policies.DTypePolicy("bfloat16")
        m["model/decoder/.*"] = "float16"
        m["model/decoder/attention/.*"] = lib.dtype_policies.QuantizedDTypePolicy("int8", "float32")
        return m

    ours, theirs = fill(shoal), fill(keras)
    for path in ("model/encoder/dense", "model/decoder/x", "model/other"):
        assert ours[path].name == theirs[path].name
    for m in (ours, theirs):
        with pytest.raises(ValueError, match="matches multiple dtype policy"):
            m["model/decoder/attention/out"]
        with pytest.raises(ValueError, match="already exist in the DTypePolicyMap"):
            m["model/encoder/dense"] = "float32"
    assert (ours.name, len(ours), list(ours)) == (theirs.name, len(theirs), list(theirs))
    assert shoal.saving.serialize_keras_object(ours) == keras.saving.serialize_keras_object(theirs)
    revived = shoal.dtype_policies.deserialize(keras.dtype_policies.serialize(theirs))
    assert isinstance(revived, shoal.dtype_policies.DTypePolicyMap)
    assert revived["model/decoder/x"].name == "float16"
    assert revived.default_policy.name == "float32"


def _subclass_with_policy_map(lib):
    @lib.saving.register_keras_serializable(package="h6_suite")
    class MapSubclass(lib.layers.Layer):
        def __init__(self, dtype=None, name="subclass", **kwargs):
            super().__init__(dtype=dtype, name=name, **kwargs)
            self.dense = lib.layers.Dense(8, dtype=dtype, name=f"{name}_dense")
            self.relu = lib.layers.ReLU(dtype=dtype, name=f"{name}_relu")

        def call(self, x):
            return self.relu(self.dense(x))

        def get_config(self):
            config = super().get_config()
            policy_map = lib.dtype_policies.DTypePolicyMap()
            for layer in (self.dense, self.relu):
                if layer.quantization_mode is not None:
                    policy_map[layer.path] = layer.dtype_policy
            if len(policy_map):
                config["dtype"] = policy_map
            return config

    return MapSubclass


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_layers_built_with_a_dtype_policy_map(tmp_path):
    x = np.random.RandomState(0).uniform(size=(3, 4)).astype("float32")
    ref = None
    for lib in (keras, shoal):
        inputs = lib.Input((4,))
        model = lib.Model(inputs, _subclass_with_policy_map(lib)()(inputs))
        model.quantize("int8")
        sub = model.layers[1]
        assert sub.dense.path == "subclass/subclass_dense"
        config = lib.saving.serialize_keras_object(sub.get_config()["dtype"])
        ref = config if ref is None else ref
        assert config == ref  # shoal writes Keras' DTypePolicyMap config
        path = str(tmp_path / f"{lib.__name__}.keras")
        model.save(path)
        reloaded = lib.saving.load_model(path)
        dense = reloaded.layers[1].dense
        assert isinstance(reloaded.layers[1].dtype_policy, lib.dtype_policies.DTypePolicyMap)
        assert dense.quantization_mode == "int8"
        assert [w.name for w in dense.weights] == ["bias", "kernel", "kernel_scale"]
        np.testing.assert_allclose(_np(reloaded(x)), _np(model(x)), atol=1e-5)


# -- saving -------------------------------------------------------------------------------


def test_layer_shared_by_model_and_wrapper_survives_save(tmp_path):
    @shoal.saving.register_keras_serializable(package="h6_suite")
    class Wrap(shoal.layers.Wrapper):
        def call(self, x):
            return self.layer(x)

    i1, i2 = shoal.Input((2,)), shoal.Input((2,))
    shared = shoal.layers.Dense(1)
    model = shoal.Model([i1, i2], [shared(i1), Wrap(shared)(i2)])
    path = str(tmp_path / "m.keras")
    model.save(path)  # Keras 3.15 reads this file and shares the layer as well
    reloaded = shoal.saving.load_model(path)
    assert reloaded.layers[2] is reloaded.layers[3].layer
    x = np.ones((1, 2), "float32")
    for a, b in zip(reloaded([x, x]), model([x, x]), strict=True):
        np.testing.assert_allclose(_np(a), _np(b))
    k_model = keras.saving.load_model(path, custom_objects={"Wrap": _keras_wrap()})
    assert k_model.layers[2] is k_model.layers[3].layer


def _keras_wrap():
    @keras.saving.register_keras_serializable(package="h6_suite")
    class Wrap(keras.layers.Wrapper):
        def call(self, x):
            return self.layer(x)

    return Wrap


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_legacy_h5_reloads_registered_custom_loss(tmp_path):
    @shoal.saving.register_keras_serializable(package="h6_suite_pkg")
    def h6_mse(y_true, y_pred):
        return shoal.ops.mean(shoal.ops.square(y_pred - y_true), axis=-1)

    inputs = shoal.Input((4,), batch_size=2)
    model = shoal.Model(inputs, shoal.layers.Dense(1)(inputs))
    model.compile(optimizer="adam", loss=h6_mse, metrics=["mse"])
    path = str(tmp_path / "m.h5")
    model.save(path)  # training_config names the loss "h6_suite_pkg>h6_mse", as Keras does
    assert shoal.saving.load_model(path).loss is h6_mse


def test_result_type_refuses_float8_promotion_as_keras():
    for lib in (keras, shoal):
        with pytest.raises(ValueError, match="no implicit conversions from float8 dtypes"):
            lib.backend.result_type("float8_e4m3fn", "bfloat16")
