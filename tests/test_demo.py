"""`shoal demo`: the Keras MNIST convnet on the bundled sample reaches >= 0.97 held-out accuracy."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_shoal_demo_reaches_97_percent(tmp_path):
    out = tmp_path / "mnist.keras"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shoal.cli",
            "demo",
            "--epochs",
            "8",
            "--verbose",
            "2",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    accuracy = float(re.search(r"Held-out accuracy: ([0-9.]+)", proc.stdout).group(1))
    assert accuracy >= 0.97, proc.stdout[-2000:]
    assert "Epoch 8/8" in proc.stdout
    assert out.exists()

    import numpy as np

    import shoal
    from shoal.datasets import mnist

    _, (x_test, y_test) = mnist.load_sample_split(num_train=8000)
    model = shoal.models.load_model(out)
    pred = model.predict((x_test[:256].astype("float32") / 255.0)[..., None], verbose=0)
    assert float(np.mean(pred.argmax(-1) == y_test[:256])) >= 0.95
