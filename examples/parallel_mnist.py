"""Train the Keras MNIST convnet on the bundled MNIST sample, on every device you have.

    python examples/parallel_mnist.py                          # one device
    python examples/parallel_mnist.py --strategy data          # all devices of this machine
    XLA_FLAGS=--xla_force_host_platform_device_count=4 \
        python examples/parallel_mnist.py --strategy fsdp      # 4 virtual CPU devices
    shoal launch --nproc 2 --devices-per-proc 2 examples/parallel_mnist.py --strategy data
    srun python examples/parallel_mnist.py --strategy data --multi-host   # SLURM, one per node

The model, compile and fit are plain Keras; only `set_distribution` changes.
"""

from __future__ import annotations

import argparse
import os

import shoal
from shoal import distribution as dist
from shoal.cli import build_mnist_convnet
from shoal.datasets import mnist


def make_distribution(strategy: str):
    if strategy == "none":
        return None
    if strategy == "data":
        return dist.DataParallel()
    if strategy == "fsdp":
        return dist.FullyShardedDataParallel()
    # "hybrid": the batch over half the devices, the Dense kernel over the other half.
    n = dist.get_device_count()
    mesh = dist.DeviceMesh((max(n // 2, 1), min(n, 2)), ("batch", "model"))
    layout_map = dist.LayoutMap(mesh)
    layout_map[".*dense.*kernel"] = (None, "model")
    return dist.ModelParallel(layout_map=layout_map, batch_dim_name="batch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", choices=["none", "data", "fsdp", "hybrid"], default="none")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--multi-host", action="store_true", help="call initialize() first")
    args = parser.parse_args()

    if args.multi_host or "SHOAL_NUM_PROCESSES" in os.environ:
        dist.initialize()  # from `shoal launch`, SLURM, Open MPI or Kubernetes
    shoal.utils.set_random_seed(1337)
    dist.set_distribution(make_distribution(args.strategy))

    (x_train, y_train), (x_test, y_test) = mnist.load_sample_split(num_train=8000)
    x_train = (x_train.astype("float32") / 255.0)[..., None]
    x_test = (x_test.astype("float32") / 255.0)[..., None]

    model = build_mnist_convnet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    if dist.is_primary():
        print(f"devices: {dist.get_device_count()}  strategy: {args.strategy}")
        print(f"held-out accuracy: {accuracy:.4f}")
        model.save("parallel_mnist.keras")  # every process gathers, process 0 writes


if __name__ == "__main__":
    main()
