"""The `shoal` command.

`shoal demo` trains the Keras MNIST convnet on the bundled sample; `shoal launch --nproc N
script.py ...` runs N local processes of a script as one multi-process JAX job.
"""

from __future__ import annotations

import argparse
import sys
import time


def build_mnist_convnet():
    """The convnet of the Keras MNIST example (keras.io/examples/vision/mnist_convnet)."""
    from shoal import layers, models

    return models.Sequential(
        [
            layers.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )


def demo(args) -> int:
    import numpy as np

    from shoal import utils
    from shoal.datasets import mnist

    utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mnist.load_sample_split(num_train=8000)
    x_train = (x_train.astype("float32") / 255.0)[..., None]
    x_test = (x_test.astype("float32") / 255.0)[..., None]
    y_train = utils.to_categorical(y_train, 10)
    y_test = utils.to_categorical(y_test, 10)
    print(f"Bundled MNIST sample: {len(x_train)} training and {len(x_test)} held-out images")

    model = build_mnist_convnet()
    model.summary()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_split=0.1,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Held-out loss: {loss:.4f}")
    print(f"Held-out accuracy: {accuracy:.4f}")
    print(f"Training time: {seconds:.1f} s")
    if args.output:
        model.save(args.output)
        print(f"Saved the trained model to {args.output}")
    return 0 if np.isfinite(loss) else 1


def launch(args) -> int:
    from shoal.distribution.launch import launch as run_launch

    try:
        return run_launch(
            args.script,
            args.script_args,
            nproc=args.nproc,
            devices_per_proc=args.devices_per_proc,
            platform=args.platform,
            grace_seconds=args.grace_seconds,
        )
    except ValueError as error:  # raised only while checking arguments, before any start
        print(error, file=sys.stderr)
        return 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="shoal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train the Keras MNIST convnet on the bundled MNIST sample")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    p.add_argument(
        "--output",
        default="mnist_convnet.keras",
        help="where to save the trained model ('' to skip)",
    )
    p.set_defaults(func=demo)

    p = sub.add_parser(
        "launch",
        help="run N local processes of a script as one multi-process JAX job",
        description="Run `python SCRIPT ARGS...` in NPROC local processes joined by a JAX "
        "coordinator on a free localhost port; the script calls "
        "shoal.distribution.initialize(). Output lines are prefixed with the rank; when one "
        "rank fails the others are stopped.",
    )
    p.add_argument("--nproc", type=int, required=True, help="number of processes")
    p.add_argument(
        "--devices-per-proc",
        type=int,
        default=None,
        help="devices per process: virtual CPU devices (cpu) or GPUs (gpu; default 1)",
    )
    p.add_argument("--platform", choices=("cpu", "gpu"), default="cpu")
    p.add_argument(
        "--grace-seconds",
        type=float,
        default=5.0,
        help="time between SIGTERM and SIGKILL when stopping processes",
    )
    p.add_argument("script", help="the Python script every process runs")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments for the script")
    p.set_defaults(func=launch)

    from shoal.export.api import add_cli_parser

    add_cli_parser(sub)  # shoal export MODEL.keras OUT.onnx|OUT.tflite|OUT.stablehlo

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
