"""shoal.saving: configs, the .keras archive, .weights.h5 files, safety, and Keras interchange."""

from __future__ import annotations

import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest
from harness import assert_outputs_close, normal

import shoal
from shoal import layers
from shoal.models import Model, Sequential, clone_model
from shoal.saving import (
    custom_object_scope,
    deserialize_keras_object,
    get_registered_name,
    get_registered_object,
    load_model,
    load_weights,
    model_from_json,
    register_keras_serializable,
    save_model,
    save_weights,
    serialize_keras_object,
)

keras = pytest.importorskip("keras")


def _mlp(lib=shoal):
    return lib.Sequential(
        [lib.Input((4,)), lib.layers.Dense(5, activation="relu"), lib.layers.Dense(2)]
    )


def _functional(lib):
    """Dict inputs, list outputs, a layer shared twice, nested Sequential and Functional."""
    L = lib.layers
    a = lib.Input((4,), name="a")
    b = lib.Input((3,), name="b")
    inner = lib.Sequential([lib.Input((4,)), L.Dense(2, name="inner_d")], name="inner")
    i2 = lib.Input((2,), name="i2")
    innerf = lib.Model(i2, L.Dense(3, name="innerf_d")(i2), name="innerf")
    shared = L.Dense(4, name="shared")
    x = shared(a)
    y = shared(x)
    z = L.Concatenate(name="cat")([innerf(inner(y)), b])
    out1 = L.Dense(1, name="o1")(z)
    out2 = L.Dense(2, name="o2")(z)
    return lib.Model({"a": a, "b": b}, [out1, out2, innerf(inner(x))], name="fm")


def _convnet(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((8, 8, 1)),
            L.Conv2D(4, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dropout(0.5),
            L.Dense(3, activation="softmax"),
        ]
    )


FX = {"a": normal(2, 4), "b": normal(2, 3, seed=1)}


# -- round trips ---------------------------------------------------------------------------


def test_sequential_round_trip(tmp_path):
    model = _mlp()
    x = normal(3, 4)
    path = tmp_path / "mlp.keras"
    model.save(path)
    restored = load_model(path)
    assert isinstance(restored, Sequential)
    assert_outputs_close(restored(x), model(x))
    assert [w.shape for w in restored.weights] == [w.shape for w in model.weights]
    assert restored.get_config() == model.get_config()


def test_functional_round_trip_shared_nested_dict(tmp_path):
    model = _functional(shoal)
    path = tmp_path / "f.keras"
    save_model(model, path)
    restored = load_model(path)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    assert_outputs_close(restored(FX), model(FX))
    # The shared layer is one layer with two nodes, and keeps a single set of weights.
    assert len(restored.get_layer("shared").weights) == 2
    assert len(restored.weights) == len(model.weights)


def _ops_model():
    a = shoal.Input((4,), name="a")
    h = layers.Dense(3)(a)
    out = shoal.ops.reshape(h * 2.0 + a[:, :3], (-1, 3, 1))
    return Model(a, out)


def test_functional_with_graph_ops_config_round_trip(tmp_path):
    model = _ops_model()
    config = model.get_config()
    assert [entry["class_name"] for entry in config["layers"]] == [
        "InputLayer",
        "Dense",
        "Multiply",
        "GetItem",
        "Add",
        "Reshape",
    ]
    model.save(tmp_path / "ops.keras")
    restored = load_model(tmp_path / "ops.keras")
    assert restored.get_config() == config
    assert restored.output.shape == (None, 3, 1)


def test_functional_with_graph_ops_outputs(tmp_path):
    model = _ops_model()
    model.save(tmp_path / "ops.keras")
    restored = load_model(tmp_path / "ops.keras")
    x = normal(2, 4)
    assert_outputs_close(restored(x), model(x))


def test_weights_file_round_trip(tmp_path):
    model, other = _mlp(), _mlp()
    x = normal(3, 4)
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    other.load_weights(path)
    assert_outputs_close(other(x), model(x))
    # .keras archives are also a weights source.
    third = _mlp()
    model.save(tmp_path / "m.keras")
    third.load_weights(tmp_path / "m.keras")
    assert_outputs_close(third(x), model(x))


def test_compiled_model_keeps_optimizer_state(tmp_path):
    model = _mlp()
    model.compile(optimizer="adam", loss="mse")
    model.fit(normal(8, 4), normal(8, 2, seed=3), epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "c.keras")
    restored = load_model(tmp_path / "c.keras")
    assert restored.compiled
    assert len(restored.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(restored.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))
    uncompiled = load_model(tmp_path / "c.keras", compile=False)
    assert not uncompiled.compiled


def test_to_json_and_model_from_json():
    model = _functional(shoal)
    text = model.to_json()
    rebuilt = model_from_json(text)
    assert json.loads(rebuilt.to_json())["config"] == json.loads(text)["config"]
    assert rebuilt(FX)[0].shape == (2, 1)
    with pytest.raises(ValueError, match="json_string"):
        model_from_json("{not json")


def test_serialized_dict_shape_matches_keras():
    ours = serialize_keras_object(layers.Dense(3, name="d"))
    theirs = keras.saving.serialize_keras_object(keras.layers.Dense(3, name="d"))
    assert {k: ours[k] for k in ("module", "class_name", "registered_name")} == {
        k: theirs[k] for k in ("module", "class_name", "registered_name")
    }
    assert deserialize_keras_object(theirs).get_config()["units"] == 3
    for name, args in [("MaxPooling2D", ()), ("Conv2D", (2, 3)), ("Concatenate", ())]:
        ours = serialize_keras_object(getattr(layers, name)(*args))
        theirs = keras.saving.serialize_keras_object(getattr(keras.layers, name)(*args))
        assert (ours["module"], ours["class_name"]) == (theirs["module"], theirs["class_name"])
    model = _mlp()
    assert serialize_keras_object(model)["module"] == "keras"
    f = _functional(shoal)
    entry = serialize_keras_object(f)
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == (
        "keras.src.models.functional",
        "Functional",
        "Functional",
    )


# -- the h5 layout is Keras' ------------------------------------------------------------------


def _h5_layout(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, getattr(obj, "shape", None)))
    return found


def test_weights_layout_equals_keras(tmp_path):
    ours, theirs = _functional(shoal), _functional(keras)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    assert _h5_layout(tmp_path / "ours.weights.h5") == _h5_layout(tmp_path / "theirs.weights.h5")


# -- Keras interchange ------------------------------------------------------------------------


def test_keras_sequential_loads_in_shoal(tmp_path):
    kmodel = _convnet(keras)
    x = normal(2, 8, 8, 1)
    kmodel.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert_outputs_close(ours(x), kmodel(x))


def test_shoal_sequential_loads_in_keras(tmp_path):
    model = _convnet(shoal)
    x = normal(2, 8, 8, 1)
    model.save(tmp_path / "s.keras")
    kmodel = keras.saving.load_model(tmp_path / "s.keras")
    assert_outputs_close(kmodel(x), model(x))


def test_functional_interchange_both_ways(tmp_path):
    kmodel = _functional(keras)
    kmodel.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert_outputs_close(ours(FX), kmodel(FX))
    ours.save(tmp_path / "back.keras")
    again = keras.saving.load_model(tmp_path / "back.keras")
    assert_outputs_close(again(FX), kmodel(FX))


def test_weights_files_interchange(tmp_path):
    kmodel, ours = _mlp(keras), _mlp(shoal)
    x = normal(3, 4)
    kmodel.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    assert_outputs_close(ours(x), kmodel(x))
    fresh = _mlp(shoal)
    fresh.save_weights(tmp_path / "s.weights.h5")
    kmodel.load_weights(tmp_path / "s.weights.h5")
    assert_outputs_close(kmodel(x), fresh(x))


def test_bfloat16_weights_interchange(tmp_path):
    def build(lib):
        return lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, dtype="bfloat16")])

    kmodel, ours = build(keras), build(shoal)
    kmodel.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    for a, b in zip(ours.weights, kmodel.weights, strict=True):
        assert str(a.dtype) == "bfloat16"
        np.testing.assert_array_equal(np.asarray(a.value, "float32"), np.asarray(b, "float32"))
    ours.save_weights(tmp_path / "s.weights.h5")
    again = build(keras)
    again.load_weights(tmp_path / "s.weights.h5")
    for a, b in zip(again.weights, kmodel.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a, "float32"), np.asarray(b, "float32"))


def test_lambda_with_named_function_needs_no_opt_in(tmp_path):
    inp = shoal.Input((3,))
    model = Model(inp, layers.Lambda(shoal.ops.relu)(inp))
    entry = model.get_config()["layers"][1]["config"]["function"]
    assert (entry["module"], entry["class_name"], entry["config"]) == (
        "keras.ops",
        "function",
        "relu",
    )
    model.save(tmp_path / "relu.keras")
    x = normal(2, 3)
    assert_outputs_close(load_model(tmp_path / "relu.keras")(x), model(x))
    assert_outputs_close(keras.saving.load_model(tmp_path / "relu.keras")(x), model(x))


def test_keras_compiled_model_loads_compiled(tmp_path):
    kmodel = _mlp(keras)
    kmodel.compile(optimizer="adam", loss="mse")
    kmodel.fit(normal(8, 4), normal(8, 2, seed=3), epochs=1, batch_size=4, verbose=0)
    kmodel.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert ours.compiled
    for a, b in zip(ours.optimizer.variables, kmodel.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value))


# -- safety ---------------------------------------------------------------------------------------


def _lambda_model():
    inp = shoal.Input((3,))
    out = layers.Lambda(lambda t: t * 3.0 + 1.0)(layers.Dense(3)(inp))
    return Model(inp, out)


def test_lambda_refused_by_default_and_accepted_when_opted_in(tmp_path):
    model = _lambda_model()
    x = normal(2, 3)
    path = tmp_path / "lam.keras"
    model.save(path)
    with pytest.raises(ValueError, match="safe_mode=False"):
        load_model(path)
    restored = load_model(path, safe_mode=False)
    assert_outputs_close(restored(x), model(x))
    shoal.saving.enable_unsafe_deserialization()
    try:
        assert_outputs_close(load_model(path)(x), model(x))
    finally:
        shoal.saving.disable_unsafe_deserialization()
    with pytest.raises(ValueError, match="enable_unsafe_deserialization"):
        load_model(path)


def test_keras_lambda_archive_interchange(tmp_path):
    inp = keras.Input((3,))
    kmodel = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0 - 1.0)(inp))
    kmodel.save(tmp_path / "k.keras")
    x = normal(2, 3)
    with pytest.raises(ValueError, match="lambda"):
        load_model(tmp_path / "k.keras")
    assert_outputs_close(load_model(tmp_path / "k.keras", safe_mode=False)(x), kmodel(x))
    _lambda_model().save(tmp_path / "s.keras")
    with pytest.raises(ValueError):
        keras.saving.load_model(tmp_path / "s.keras")


class Scale(layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return x * self.w.value * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _scale_model():
    inp = shoal.Input((3,))
    return Model(inp, Scale(3.0, name="scale")(inp))


def test_unknown_class_refused_with_instructions(tmp_path):
    model = _scale_model()
    path = tmp_path / "custom.keras"
    model.save(path)
    with pytest.raises(ValueError, match="'Scale'.*register_keras_serializable"):
        load_model(path)
    with pytest.raises(TypeError, match="Scale"):  # also a TypeError, as in Keras
        load_model(path)
    x = normal(2, 3)
    assert_outputs_close(load_model(path, custom_objects={"Scale": Scale})(x), model(x))
    with custom_object_scope({"Scale": Scale}):
        assert_outputs_close(load_model(path)(x), model(x))


def test_registered_class_round_trip(tmp_path):
    @register_keras_serializable(package="TestPkg")
    class Doubler(layers.Layer):
        def call(self, x):
            return x * 2.0

    assert get_registered_name(Doubler) == "TestPkg>Doubler"
    assert get_registered_object("TestPkg>Doubler") is Doubler
    inp = shoal.Input((2,))
    model = Model(inp, Doubler()(layers.Dense(2)(inp)))
    entry = serialize_keras_object(model)["config"]["layers"][-1]
    assert entry["registered_name"] == "TestPkg>Doubler"
    model.save(tmp_path / "r.keras")
    x = normal(2, 2)
    assert_outputs_close(load_model(tmp_path / "r.keras")(x), model(x))
    with pytest.raises(ValueError, match="get_config"):
        register_keras_serializable()(type("NoConfig", (), {}))


def _rewrite_archive(src, dst, edit):
    with zipfile.ZipFile(src) as zin:
        members = {name: zin.read(name) for name in zin.namelist()}
    members = edit(members)
    with zipfile.ZipFile(dst, "w") as zout:
        for name, data in members.items():
            zout.writestr(name, data)


def test_crafted_archives_are_refused(tmp_path):
    good = tmp_path / "good.keras"
    _mlp().save(good)

    evil = tmp_path / "evil.keras"
    _rewrite_archive(good, evil, lambda m: {**m, "../evil": b"x"})
    with pytest.raises(ValueError, match=r"'\.\./evil'"):
        load_model(evil)

    absolute = tmp_path / "abs.keras"
    _rewrite_archive(good, absolute, lambda m: {**m, "/etc/passwd": b"x"})
    with pytest.raises(ValueError, match="/etc/passwd"):
        load_model(absolute)

    truncated = tmp_path / "trunc.keras"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ValueError, match="trunc.keras.*(truncated|corrupt)"):
        load_model(truncated)

    no_config = tmp_path / "noconfig.keras"
    _rewrite_archive(good, no_config, lambda m: {k: v for k, v in m.items() if k != "config.json"})
    with pytest.raises(ValueError, match="noconfig.keras.*config.json"):
        load_model(no_config)

    bad_h5 = tmp_path / "badh5.keras"
    _rewrite_archive(good, bad_h5, lambda m: {**m, "model.weights.h5": b"not hdf5"})
    with pytest.raises(ValueError, match="badh5.keras.*model.weights.h5"):
        load_model(bad_h5)

    bad_json = tmp_path / "badjson.keras"
    _rewrite_archive(good, bad_json, lambda m: {**m, "config.json": b"{"})
    with pytest.raises(ValueError, match="config.json"):
        load_model(bad_json)


def test_archive_with_wrong_weights_is_refused(tmp_path):
    small = tmp_path / "small.keras"
    _mlp().save(small)
    big = shoal.Sequential([shoal.Input((4,)), layers.Dense(7), layers.Dense(2)])
    big.save_weights(tmp_path / "big.weights.h5")
    with open(tmp_path / "big.weights.h5", "rb") as f:
        big_weights = f.read()
    mixed = tmp_path / "mixed.keras"
    _rewrite_archive(small, mixed, lambda m: {**m, "model.weights.h5": big_weights})
    with pytest.raises(ValueError, match=r"mixed.keras.*Dense 'dense.*\(4, 5\).*\(4, 7\)"):
        load_model(mixed)


def test_weight_mismatch_messages_and_skip(tmp_path):
    _mlp().save_weights(tmp_path / "a.weights.h5")
    other = shoal.Sequential(
        [shoal.Input((4,)), layers.Dense(6, name="wide"), layers.Dense(2, name="last")]
    )
    before = [np.asarray(w.value) for w in other.weights]
    with pytest.raises(ValueError, match=r"Dense 'wide'.*\(4, 6\).*\(4, 5\)") as err:
        other.load_weights(tmp_path / "a.weights.h5")
    assert "a.weights.h5" in str(err.value)
    # A failed load changes nothing.
    for w, b in zip(other.weights, before, strict=True):
        np.testing.assert_array_equal(np.asarray(w.value), b)
    with pytest.warns(UserWarning, match="wide"):
        other.load_weights(tmp_path / "a.weights.h5", skip_mismatch=True)
    fewer = shoal.Sequential([shoal.Input((4,)), layers.Dense(5, use_bias=False), layers.Dense(2)])
    with pytest.raises(ValueError, match="1 variable"):
        fewer.load_weights(tmp_path / "a.weights.h5")
    one_layer = shoal.Sequential([shoal.Input((4,)), layers.Dense(5)])
    with pytest.raises(ValueError, match="no layer of the model uses: layers/dense_1/vars"):
        one_layer.load_weights(tmp_path / "a.weights.h5")


def test_h5_links_are_refused(tmp_path):
    model = _mlp()
    path = tmp_path / "link.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.SoftLink("/layers/dense_1/vars/0")
    with pytest.raises(ValueError, match="link"):
        _mlp().load_weights(path)


# -- file handling ----------------------------------------------------------------------------------


def test_filepath_checks(tmp_path):
    model = _mlp()
    with pytest.raises(ValueError, match="filepath.*'.keras'"):
        model.save(tmp_path / "model.txt")
    with pytest.raises(ValueError, match="filepath.*'.weights.h5'"):
        model.save_weights(tmp_path / "model.h5")
    with pytest.raises(ValueError, match="filepath"):
        load_model(tmp_path / "model.zip")
    with pytest.raises(ValueError, match="filepath"):
        load_weights(model, tmp_path / "model.bin")
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "missing.keras")


def test_overwrite_false_and_atomic_save(tmp_path, monkeypatch):
    model = _mlp()
    path = tmp_path / "m.keras"
    model.save(path)
    original = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        model.save(path, overwrite=False)
    existing = tmp_path / "m.weights.h5"
    existing.write_bytes(b"keep me")
    with pytest.raises(ValueError, match="overwrite"):  # also a ValueError
        save_weights(model, existing, overwrite=False)
    assert existing.read_bytes() == b"keep me"

    from shoal.saving import weights_file

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(weights_file, "weights_to_bytes", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "m.weights.h5"]


def test_archive_layout_is_keras(tmp_path):
    _mlp().save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        meta = json.loads(zf.read("metadata.json"))
        assert set(meta) >= {"keras_version", "date_saved"}
        with h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as f:
            assert "name" in f["vars"].attrs
            assert f["layers/dense/vars/0"].shape == (4, 5)
            assert f["layers/dense_1/vars/1"].shape == (2,)


# -- cloning --------------------------------------------------------------------------------------


def test_clone_model_fresh_weights_same_architecture():
    model = _functional(shoal)
    clone = clone_model(model)
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert all(a is not b for a, b in zip(clone.weights, model.weights, strict=True))
    assert not np.allclose(clone.weights[0].numpy(), model.weights[0].numpy())
    clone.set_weights(model.get_weights())
    assert_outputs_close(clone(FX), model(FX))
    seq = _mlp()
    seq_clone = clone_model(seq)
    assert isinstance(seq_clone, Sequential)
    assert seq_clone.layers[0] is not seq.layers[0]
    renamed = clone_model(
        seq,
        clone_function=lambda layer: layer.__class__.from_config(
            {**layer.get_config(), "name": "c_" + layer.name}
        ),
    )
    assert [layer.name for layer in renamed.layers] == ["c_" + x.name for x in seq.layers]


def test_clone_model_options():
    model = _functional(shoal)
    inputs = {"a": shoal.Input((4,), name="a2"), "b": shoal.Input((3,), name="b2")}
    clone = clone_model(model, input_tensors=inputs, recursive=True)
    inner, inner_clone = model.get_layer("inner"), clone.get_layer("inner")
    assert inner_clone is not inner and inner_clone.layers[0] is not inner.layers[0]
    assert len(clone.get_layer("shared")._inbound_nodes) == 2  # still shared
    with pytest.raises(ValueError, match="same structure"):
        clone_model(model, input_tensors=[inputs["a"], inputs["b"]])
    calls = []

    def spy(layer, *args, **kwargs):
        calls.append(layer.name)
        return layer(*args, **kwargs)

    clone_model(_ops_model(), call_function=spy)
    assert len(calls) == 5  # Dense and the four graph ops
    with pytest.raises(ValueError, match="call_function"):
        clone_model(_mlp(), call_function=spy)


# -- files Keras wrote ------------------------------------------------------------------


def _subclassed(lib):
    @lib.saving.register_keras_serializable(package=f"order_{lib.__name__}")
    class Ordered(lib.Model):
        """Attributes on both sides of "layers" in sorted order, a list, a private one."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a = lib.layers.Dense(3)
            self.z = lib.layers.Dense(2)
            self._p = lib.layers.Dense(2)
            self.blocks = [lib.layers.Dense(2), lib.layers.Dense(2)]

        def call(self, x):
            return self.z(self._p(self.blocks[1](self.blocks[0](self.a(x)))))

    return Ordered


def test_subclassed_model_weights_layout_matches_keras(tmp_path):
    """Keras stores a layer first reached through a subclassed model's `layers` property
    (attributes that sort after "layers", private ones) under `layers/<name>`: shoal
    writes and reads the same layout."""
    import keras

    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    theirs = _subclassed(keras)()
    theirs(x)
    theirs.set_weights([np.full(w.shape, 0.1 * (i + 1), "float32") for i, w in
                        enumerate(theirs.get_weights())])  # fmt: skip
    path = str(tmp_path / "k.weights.h5")
    theirs.save_weights(path)
    ours = _subclassed(shoal)()
    ours(x)
    ours.load_weights(path)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6)

    def layout(file):
        with h5py.File(file) as f:
            found = []
            f.visit(lambda n: found.append(n) if n.endswith("vars") else None)
            return found

    mine = str(tmp_path / "s.weights.h5")
    ours.save_weights(mine)
    assert layout(mine) == layout(path)
    assert "layers/dense_1/vars" in layout(path)


def test_keras_functional_with_augmentation_predicts_without_augmenting(tmp_path):
    """Keras writes `training=True` into augmentation layers' nodes; the model's own
    `training` (False in predict) decides, as in Keras."""
    import keras

    i = keras.Input((4, 4, 1))
    model = keras.Model(i, keras.layers.RandomFlip()(i))
    path = str(tmp_path / "aug.keras")
    model.save(path)
    loaded = shoal.models.load_model(path)
    x = np.arange(32, dtype="float32").reshape(2, 4, 4, 1)
    for _ in range(4):
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), x)
        np.testing.assert_array_equal(loaded(x, training=False), x)


def test_compile_config_is_serialized_and_clones_compile():
    model = Sequential([shoal.Input((3,)), layers.Dense(1)])
    model.compile(shoal.optimizers.Adam(0.01), shoal.losses.MeanSquaredError(), metrics=["mae"])
    config = model.get_compile_config()
    assert config["optimizer"]["class_name"] == "Adam"
    assert config["optimizer"]["config"]["learning_rate"] == pytest.approx(0.01)
    assert config["loss"]["class_name"] == "MeanSquaredError"
    assert config["jit_compile"] is True
    json.dumps(config)  # plain data
    clone = clone_model(model)
    assert clone.compiled and clone.optimizer is not model.optimizer
    assert isinstance(clone.optimizer, shoal.optimizers.Adam)


def _assets_layer(lib):
    class WithAssets(lib.layers.Layer):
        """keras.io "Save, serialize, and export models": a layer keeping a vocabulary
        file in the archive, and no `call`."""

        def __init__(self, vocab=None, **kwargs):
            super().__init__(**kwargs)
            self.vocab = vocab

        def save_assets(self, inner_path):
            with open(os.path.join(inner_path, "vocabulary.txt"), "w") as f:
                f.write(self.vocab)

        def load_assets(self, inner_path):
            with open(os.path.join(inner_path, "vocabulary.txt")) as f:
                self.vocab = f.read().replace("<unk>", "little")

    return WithAssets


def test_save_and_load_assets_as_keras(tmp_path):
    import keras

    for writer, reader in ((shoal, shoal), (keras, shoal)):
        layer = _assets_layer(writer)(vocab="Mary had a <unk> lamb.", name="with_assets")
        model = writer.Sequential([layer])
        model.build((None, 4))
        path = str(tmp_path / f"{writer.__name__}.keras")
        model.save(path)
        with zipfile.ZipFile(path) as zf:
            assert "assets/layers/with_assets/vocabulary.txt" in zf.namelist()
        cls = _assets_layer(reader)
        restored = reader.models.load_model(path, custom_objects={"WithAssets": cls})
        assert restored.layers[0].vocab == "Mary had a little lamb."
