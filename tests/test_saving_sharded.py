"""Sharded weights (`save_weights(..., max_shard_size=)`): Keras 3's layout, both directions."""

from __future__ import annotations

import json
import os
import re

import h5py
import numpy as np
import pytest
from harness import normal

import shoal
from shoal.saving import load_weights, save_weights

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

# 1e-6 GB is 1073 bytes: this model's 280 float32 weights need 2 shards, 3112 bytes with
# Adam's state need 4.
TINY = 1e-6


def _model(lib=shoal, units=8, optimizer=True, seed=0):
    model = lib.Sequential(
        [
            lib.Input((4,)),
            lib.layers.Dense(16),
            lib.layers.BatchNormalization(),
            lib.layers.Dense(units),
        ]
    )
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.weights])
    if optimizer:
        model.compile(optimizer=lib.optimizers.Adam(), loss="mse")
        model.optimizer.build(model.trainable_variables)
        for v in model.optimizer.variables:
            value = rng.standard_normal(v.shape) if v.shape else 3
            v.assign(np.asarray(value).astype(np.dtype(v.dtype)))
    return model


def _values(variables):
    return [np.asarray(v.value if hasattr(v, "value") else v) for v in variables]


def _assert_same_state(a, b, optimizer=True):
    for x, y in zip(_values(a.weights), _values(b.weights), strict=True):
        np.testing.assert_array_equal(x, y)
    if optimizer:
        pairs = zip(_values(a.optimizer.variables), _values(b.optimizer.variables), strict=True)
        for x, y in pairs:
            np.testing.assert_array_equal(x, y)


def _attrs(obj) -> dict:
    # Object names without the per-process counters ("dense_3" -> "dense", "adam_1").
    return {k: re.sub(r"_\d+$", "", v) if k == "name" else v for k, v in obj.attrs.items()}


def _layout(directory):
    found = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".h5"):
            with h5py.File(directory / name, "r") as f:
                f.visititems(
                    lambda path, obj, name=name: found.__setitem__(
                        (name, path), (_attrs(obj), getattr(obj, "shape", None))
                    )
                )
    return found


def test_sharded_files_equal_keras(tmp_path):
    (tmp_path / "k").mkdir()
    (tmp_path / "s").mkdir()
    _model(keras).save_weights(tmp_path / "k" / "m.weights.json", max_shard_size=TINY)
    _model(shoal).save_weights(tmp_path / "s" / "m.weights.json", max_shard_size=TINY)
    ours = json.loads((tmp_path / "s" / "m.weights.json").read_text())
    theirs = json.loads((tmp_path / "k" / "m.weights.json").read_text())
    assert ours == theirs
    assert ours["weight_map"]["/optimizer/vars"] == [f"m_0000{i}.weights.h5" for i in (1, 2, 3)]
    assert _layout(tmp_path / "s") == _layout(tmp_path / "k")


def test_shoal_shards_load_in_keras_and_back(tmp_path):
    ours = _model(shoal)
    save_weights(ours, tmp_path / "s.weights.json", max_shard_size=TINY)
    kmodel = _model(keras, seed=1)
    kmodel.load_weights(tmp_path / "s.weights.json")
    _assert_same_state(kmodel, ours)
    x = normal(3, 4)
    np.testing.assert_allclose(kmodel(x), ours(x), rtol=1e-5, atol=1e-6)

    kmodel = _model(keras, seed=2)
    kmodel.save_weights(tmp_path / "k.weights.json", max_shard_size=TINY)
    fresh = _model(shoal, seed=3)
    load_weights(fresh, tmp_path / "k.weights.json")
    _assert_same_state(fresh, kmodel)


def test_round_trip_without_optimizer_and_rename_warning(tmp_path):
    model, other = _model(optimizer=False), _model(optimizer=False, seed=1)
    with pytest.warns(UserWarning, match=r"'\.weights\.json'.*m\.weights\.json"):
        model.save_weights(tmp_path / "m.weights.h5", max_shard_size=TINY)
    assert sorted(os.listdir(tmp_path)) == [
        "m.weights.json",
        "m_00000.weights.h5",
        "m_00001.weights.h5",
    ]
    other.load_weights(tmp_path / "m.weights.json")
    _assert_same_state(other, model, optimizer=False)


def test_skip_mismatch_as_keras(tmp_path):
    saved = _model(optimizer=False)
    saved.save_weights(tmp_path / "m.weights.json", max_shard_size=TINY)
    ours, theirs = (
        _model(units=3, optimizer=False, seed=1),
        _model(keras, units=3, seed=1, optimizer=False),
    )
    before = _values(ours.weights)
    with pytest.raises(ValueError, match=r"Dense.*\(16, 3\).*\(16, 8\)"):
        ours.load_weights(tmp_path / "m.weights.json")
    for x, y in zip(_values(ours.weights), before, strict=True):  # a failed load changes nothing
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError):
        theirs.load_weights(tmp_path / "m.weights.json")
    with pytest.warns(UserWarning, match="skip"):
        ours.load_weights(tmp_path / "m.weights.json", skip_mismatch=True)
    with pytest.warns(UserWarning):
        theirs.load_weights(tmp_path / "m.weights.json", skip_mismatch=True)
    # Both load the matching layers and keep their own last Dense.
    _assert_same_state(ours, theirs, optimizer=False)
    for x, y in zip(_values(ours.weights)[:6], _values(saved.weights)[:6], strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(_values(ours.weights)[-2], before[-2])


def test_argument_checks(tmp_path):
    model = _model(optimizer=False)
    with pytest.raises(ValueError, match=r"filepath.*'\.weights\.json'.*max_shard_size"):
        model.save_weights(tmp_path / "m.keras", max_shard_size=1)
    with pytest.raises(ValueError, match=r"filepath.*'\.weights\.h5'.*max_shard_size"):
        model.save_weights(tmp_path / "m.weights.json")
    with pytest.raises(TypeError, match="max_shard_size.*str"):
        model.save_weights(tmp_path / "m.weights.json", max_shard_size="1GB")
    with pytest.raises(ValueError, match="max_shard_size.*positive.*0"):
        model.save_weights(tmp_path / "m.weights.json", max_shard_size=0)
    with pytest.raises(ValueError, match=r"'layers/dense/vars/0' is 256\.00 B.*107\.\d\d B"):
        model.save_weights(tmp_path / "m.weights.json", max_shard_size=1e-7)
    assert os.listdir(tmp_path) == []  # a failed save leaves nothing behind
    model.save_weights(tmp_path / "m.weights.json", max_shard_size=TINY)
    with pytest.raises(FileExistsError, match="overwrite"):
        model.save_weights(tmp_path / "m.weights.json", overwrite=False, max_shard_size=TINY)
    unbuilt = shoal.Sequential([shoal.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        unbuilt.save_weights(tmp_path / "u.weights.json", max_shard_size=TINY)
    with pytest.raises(ValueError, match="does not exist"):
        model.load_weights(tmp_path / "missing.weights.json")


def test_crafted_indexes_are_refused(tmp_path):
    model = _model(optimizer=False)
    path = tmp_path / "m.weights.json"
    model.save_weights(path, max_shard_size=TINY)
    config = json.loads(path.read_text())
    config["weight_map"]["/layers/dense/vars"] = "../m_00000.weights.h5"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="must name shard files"):
        model.load_weights(path)
    config["weight_map"]["/layers/dense/vars"] = "gone_00000.weights.h5"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'gone_00000.weights.h5'.*does not exist"):
        model.load_weights(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="weight_map"):
        model.load_weights(path)
