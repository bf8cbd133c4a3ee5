"""Training scenarios run in a subprocess with virtual CPU devices (tests/test_distribution.py).

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/distribution_scenarios.py OUT.json
    shoal launch --nproc 2 --devices-per-proc 2 tests/distribution_scenarios.py OUT.json --launched

Each scenario trains the same seeded model on the same data under one distribution and
records its final weights, evaluate() and predict() results; the test compares them.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import shoal
from shoal import distribution as dist
from shoal import layers

EPOCHS = 2


def data():
    rng = np.random.RandomState(0)
    x = rng.rand(96, 12).astype("float32")
    y = (x[:, :6].sum(1) > x[:, 6:].sum(1)).astype("int32")
    return x, y


def build(accumulation=1, plain=False):
    shoal.utils.set_random_seed(7)
    # Micro-batches see their own batch statistics and dropout masks, so the
    # gradient-accumulation runs use a model without BatchNormalization and Dropout.
    stack = (
        [layers.Dense(32, activation="relu", name="dense_a")]
        if plain
        else [
            # No bias before BatchNormalization: its gradient is exactly zero, and Adam
            # would turn float noise in it into full-size steps.
            layers.Dense(32, use_bias=False, name="dense_a"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Dropout(0.25),
        ]
    )
    model = shoal.Sequential(
        [
            shoal.Input((12,)),
            *stack,
            layers.Dense(16, activation="relu", name="dense_b"),
            layers.Dense(2, activation="softmax", name="dense_out"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=2,
        gradient_accumulation_steps=accumulation,
    )
    return model


def train(distribution, accumulation=1, batch_size=16, plain=False, callbacks=None):
    dist.set_distribution(distribution)
    try:
        x, y = data()
        model = build(accumulation, plain)
        history = model.fit(
            x, y, batch_size=batch_size, epochs=EPOCHS, verbose=0, callbacks=callbacks
        )
        return model, {
            "weights": [w.tolist() for w in model.get_weights()],
            "loss": history.history["loss"],
            "evaluate": model.evaluate(x, y, batch_size=32, verbose=0),
            "predict": model.predict(x[:40], batch_size=16, verbose=0).tolist(),
        }
    finally:
        dist.set_distribution(None)


def shard_fractions(model):
    """Per device: bytes of parameter and optimizer-state shards held / total bytes."""
    variables = model.trainable_variables + model.optimizer.variables
    total = sum(v.value.nbytes for v in variables)
    held: dict = {}
    for v in variables:
        for shard in v.value.addressable_shards:
            held[str(shard.device)] = held.get(str(shard.device), 0) + shard.data.nbytes
    return {d: b / total for d, b in held.items()}


def export_errors(model, out_path):
    """Max abs difference between each export of a sharded model and its predict."""
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    from shoal.export import load_stablehlo

    x = data()[0][:8]
    want = model.predict(x, verbose=0)
    errors = {}
    model.export(out_path + ".onnx", format="onnx")
    session = onnxruntime.InferenceSession(out_path + ".onnx")
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    errors["onnx"] = float(np.abs(got - want).max())
    model.export(out_path + ".tflite", format="tflite", batch_size=len(x))
    interpreter = Interpreter(out_path + ".tflite")
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    errors["tflite"] = float(np.abs(got - want).max())
    model.export(out_path + ".stablehlo", format="stablehlo")
    got = np.asarray(load_stablehlo(out_path + ".stablehlo")(x))
    errors["stablehlo"] = float(np.abs(got - want).max())
    return errors


def hybrid_layout_map(mesh):
    layout_map = dist.LayoutMap(mesh)
    layout_map[".*dense.*kernel"] = (None, "model")
    layout_map[".*dense.*bias"] = ("model",)
    return layout_map


def main(out_path, launched=False):
    if launched:
        dist.initialize()
        _, result = train(dist.DataParallel())
        # Weights sharded across processes: every process saves (gathering is collective),
        # only process 0 writes the file.
        # Each process writes its own shards of the Orbax checkpoint.
        checkpoint = shoal.callbacks.OrbaxCheckpoint(out_path + ".orbax")
        sharded, sharded_result = train(dist.FullyShardedDataParallel(), callbacks=[checkpoint])
        sharded.save(out_path + ".keras")
        if dist.is_primary():
            with open(out_path, "w") as f:
                json.dump(
                    {
                        "launched": result,
                        "fsdp_predict": sharded_result["predict"],
                        "processes": shoal.distribution.process_count(),
                    },
                    f,
                )
        return
    results = {"devices": dist.list_devices()}
    _, results["single"] = train(None)
    model, results["data_parallel"] = train(dist.DataParallel())
    model.save(out_path + ".keras")  # weights gathered from the devices
    checkpoint = shoal.callbacks.OrbaxCheckpoint(out_path + ".orbax")  # sharded over 4
    model, results["fsdp"] = train(dist.FullyShardedDataParallel(), callbacks=[checkpoint])
    results["orbax_dir"] = out_path + ".orbax"
    results["fsdp_fractions"] = shard_fractions(model)
    results["fsdp_export_errors"] = export_errors(model, out_path)
    results["fsdp_kernel_spec"] = list(model.get_layer("dense_a").kernel.value.sharding.spec)
    mesh = dist.DeviceMesh((2, 2), ("batch", "model"))
    model, results["model_parallel"] = train(
        dist.ModelParallel(layout_map=hybrid_layout_map(mesh), batch_dim_name="batch")
    )
    results["mp_kernel_spec"] = list(model.get_layer("dense_a").kernel.value.sharding.spec)
    model, results["hybrid_fsdp"] = train(
        dist.FullyShardedDataParallel(layout_map=hybrid_layout_map(mesh))
    )
    results["hybrid_kernel_spec"] = list(model.get_layer("dense_b").kernel.value.sharding.spec)
    # Gradient accumulation: 4 micro-batches of 8 == one batch of 32.
    _, results["accumulate_1"] = train(None, batch_size=32, plain=True)
    _, results["accumulate_4_dp"] = train(
        dist.DataParallel(), accumulation=4, batch_size=32, plain=True
    )
    reloaded = shoal.saving.load_model(out_path + ".keras")
    results["reloaded_predict"] = reloaded.predict(data()[0][:40], verbose=0).tolist()
    with open(out_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], launched="--launched" in sys.argv)
