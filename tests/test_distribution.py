"""shoal.distribution: API checks in-process, training equivalence on 4 virtual CPU devices
in a subprocess (tests/distribution_scenarios.py), and a real 2-process launch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import shoal
from shoal import distribution as dist

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "distribution_scenarios.py"


def _env(devices):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCENARIOS), str(out)],
        env=_env(4),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(out.read_text())


def _max_diff(a, b):
    return max(
        float(np.max(np.abs(np.asarray(p) - np.asarray(q)))) for p, q in zip(a, b, strict=True)
    )


def test_scenarios_ran_on_four_devices(scenarios):
    assert scenarios["devices"] == ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]


@pytest.mark.parametrize("name", ["data_parallel", "fsdp", "model_parallel", "hybrid_fsdp"])
def test_training_matches_single_device(scenarios, name):
    single, other = scenarios["single"], scenarios[name]
    assert len(single["weights"]) == len(other["weights"]) == 9
    assert _max_diff(single["weights"], other["weights"]) < 1e-5
    np.testing.assert_allclose(other["loss"], single["loss"], rtol=1e-5)
    # evaluate() and predict() give global results, equal to the single-device ones.
    np.testing.assert_allclose(other["evaluate"], single["evaluate"], rtol=1e-5)
    np.testing.assert_allclose(other["predict"], single["predict"], rtol=1e-5, atol=1e-6)
    assert np.asarray(other["predict"]).shape == (40, 2)


def test_fsdp_holds_a_quarter_of_the_state_per_device(scenarios):
    fractions = scenarios["fsdp_fractions"]
    assert len(fractions) == 4
    for fraction in fractions.values():
        assert 0.24 < fraction < 0.27, fractions
    assert scenarios["fsdp_kernel_spec"] == [None, "batch"]


def test_sharded_model_exports_to_every_format(scenarios):
    """Export gathers sharded weights: ONNX, TFLite and StableHLO equal predict."""
    errors = scenarios["fsdp_export_errors"]
    assert sorted(errors) == ["onnx", "stablehlo", "tflite"]
    for fmt, error in errors.items():
        assert error < 1e-5, (fmt, error)


def test_layouts_follow_the_layout_map(scenarios):
    assert scenarios["mp_kernel_spec"] == [None, "model"]
    # Hybrid FSDP: the model axis from the map, the batch axis on the remaining dimension.
    assert scenarios["hybrid_kernel_spec"] == ["batch", "model"]


def test_gradient_accumulation_equals_the_whole_batch(scenarios):
    whole, micro = scenarios["accumulate_1"], scenarios["accumulate_4_dp"]
    assert _max_diff(whole["weights"], micro["weights"]) < 1e-5
    np.testing.assert_allclose(micro["evaluate"], whole["evaluate"], rtol=1e-5)


def test_sharded_model_saves_and_reloads(scenarios):
    np.testing.assert_allclose(
        scenarios["reloaded_predict"], scenarios["data_parallel"]["predict"], rtol=1e-6
    )


def test_sharded_orbax_checkpoint_restores_on_one_device(scenarios):
    """Written by OrbaxCheckpoint with the FSDP state sharded over 4 devices; restored
    here, on one, onto the model's own (single-device) shardings."""
    restored = shoal.saving.load_model(scenarios["orbax_dir"])
    x = np.random.RandomState(0).rand(96, 12).astype("float32")[:40]
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), scenarios["fsdp"]["predict"], rtol=1e-5, atol=1e-6
    )
    assert int(restored.optimizer.iterations) == 12  # 2 epochs of 6 batches


# -- API, in this process (one CPU device) ---------------------------------------------------
def test_distribution_attributes_as_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    import jax

    ours_mesh = dist.DeviceMesh((1,), ["batch"], devices=dist.list_devices()[:1])
    theirs_mesh = keras.distribution.DeviceMesh(
        (1,), ["batch"], devices=keras.distribution.list_devices()[:1]
    )
    assert ours_mesh.axis_names == theirs_mesh.axis_names
    assert isinstance(ours_mesh.backend_mesh, type(theirs_mesh.backend_mesh))
    layout = dist.TensorLayout(["batch", None], ours_mesh)
    assert isinstance(layout.backend_layout, jax.sharding.NamedSharding)
    layout_map = (dist.LayoutMap(ours_mesh), keras.distribution.LayoutMap(theirs_mesh))
    pairs = [
        (dist.DataParallel(device_mesh=ours_mesh), keras.distribution.DataParallel(theirs_mesh)),
        (
            dist.ModelParallel(layout_map=layout_map[0], batch_dim_name="batch"),
            keras.distribution.ModelParallel(layout_map=layout_map[1], batch_dim_name="batch"),
        ),
    ]
    for ours, theirs in pairs:
        for name in (
            "num_model_replicas",
            "num_processes",
            "data_shard_id",
            "batch_dim_name",
            "auto_shard_dataset",
        ):
            assert getattr(ours, name) == getattr(theirs, name), name


def test_list_devices_and_mesh():
    devices = dist.list_devices()
    assert devices[0] == "cpu:0" and dist.get_device_count() == len(devices)
    mesh = dist.DeviceMesh((1,), ("batch",), devices=devices[:1])
    assert mesh.shape == (1,) and mesh.axis_names == ["batch"]
    with pytest.raises(ValueError, match="holds 2 devices but 1 were given"):
        dist.DeviceMesh((2,), ("batch",), devices=devices[:1])
    with pytest.raises(ValueError, match="one name per axis"):
        dist.DeviceMesh((1,), ("batch", "model"), devices=devices[:1])
    with pytest.raises(ValueError, match="Unknown device 'gpu:7'"):
        dist.DeviceMesh((1,), ("batch",), devices=["gpu:7"])
    with pytest.raises(ValueError, match="device_type"):
        dist.list_devices("abacus")


def test_layout_map_matches_like_keras():
    mesh = dist.DeviceMesh((1, 1), ("batch", "model"), devices=dist.list_devices()[:1])
    layout_map = dist.LayoutMap(mesh)
    layout_map[".*dense.*kernel"] = (None, "model")
    layout_map["dense_2/kernel"] = ("model", None)
    assert layout_map["dense_1/kernel"].axes == (None, "model")
    assert layout_map["dense_2/kernel"].axes == ("model", None)  # an exact key wins
    assert layout_map["conv/kernel"] is None
    layout_map[".*_1/kernel"] = (None, None)
    with pytest.raises(ValueError, match="matches several keys"):
        layout_map["dense_1/kernel"]
    with pytest.raises(ValueError, match="not an axis of the device mesh"):
        layout_map["x"] = ("data",)
    with pytest.raises(ValueError, match="must be TensorLayout"):
        layout_map["y"] = "model"


def test_distribution_arguments_are_checked():
    with pytest.raises(ValueError, match="argument `layout_map`"):
        dist.ModelParallel()
    with pytest.raises(ValueError, match="not both"):
        dist.DataParallel(device_mesh=dist.DeviceMesh((1,), ("b",)), devices=["cpu:0"])
    with pytest.raises(ValueError, match="expected a Distribution or None; got str"):
        dist.set_distribution("data")
    mesh = dist.DeviceMesh((1,), ("batch",))
    with pytest.raises(ValueError, match="`batch_dim_name` 'data' is not an axis"):
        dist.ModelParallel(layout_map=dist.LayoutMap(mesh), batch_dim_name="data")
    with pytest.raises(ValueError, match="`min_size` must be a non-negative int"):
        dist.FullyShardedDataParallel(min_size=-1)


def test_scope_sets_and_restores_the_distribution():
    data_parallel = dist.DataParallel()
    assert dist.distribution() is None
    with data_parallel.scope():
        assert dist.distribution() is data_parallel
    assert dist.distribution() is None


def test_fsdp_on_one_device_replicates():
    fsdp = dist.FullyShardedDataParallel()
    kernel = shoal.Variable(np.zeros((3, 8), "float32"), name="k")
    assert fsdp.get_variable_layout(kernel).axes == (None, None)
    scalar = shoal.Variable(np.zeros((), "float32"), name="s")
    assert fsdp.get_variable_layout(scalar).axes == ()


def test_compile_checks_gradient_accumulation_steps():
    model = shoal.Sequential([shoal.Input((2,)), shoal.layers.Dense(1)])
    with pytest.raises(ValueError, match="`gradient_accumulation_steps` must be a positive"):
        model.compile("sgd", "mse", gradient_accumulation_steps=0)


def test_launched_two_processes_match_single_device(scenarios, tmp_path):
    """`shoal launch --nproc 2 --devices-per-proc 2`: DataParallel over 4 devices in 2
    processes, each feeding its half of every global batch."""
    out = tmp_path / "launched.json"
    command = [sys.executable, "-m", "shoal", "launch", "--nproc", "2", "--devices-per-proc", "2"]
    command += [str(SCENARIOS), str(out), "--launched"]
    env = _env(1)
    env["XLA_FLAGS"] = ""
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    launched = json.loads(out.read_text())
    assert launched["processes"] == 2
    single = scenarios["single"]
    assert _max_diff(single["weights"], launched["launched"]["weights"]) < 1e-5
    np.testing.assert_allclose(launched["launched"]["evaluate"], single["evaluate"], rtol=1e-5)
    np.testing.assert_allclose(
        launched["launched"]["predict"], single["predict"], rtol=1e-5, atol=1e-6
    )
    # The FSDP model saved by both processes (one file, written by process 0) reloads here.
    reloaded = shoal.saving.load_model(str(out) + ".keras")
    x = np.random.RandomState(0).rand(96, 12).astype("float32")[:40]
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), launched["fsdp_predict"], rtol=1e-5, atol=1e-6
    )
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # The Orbax checkpoint both processes wrote their shards of restores here too.
    restored = shoal.saving.load_model(str(out) + ".orbax")
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), launched["fsdp_predict"], rtol=1e-5, atol=1e-6
    )
