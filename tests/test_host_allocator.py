"""shoal's glibc settings keep XLA:CPU's large temporary buffers on reused pages."""

import os
import subprocess
import sys
import textwrap

import pytest

import shoal  # noqa: F401
from shoal import _host_allocator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Median page faults per call of a jitted function with a 40 MB temporary buffer.
SCRIPT = textwrap.dedent(
    """
    import resource, statistics
    import shoal  # noqa: F401  (configures the allocator unless opted out)
    import jax, jax.numpy as jnp
    a, b, c = jnp.ones((2000, 500)), jnp.ones((500, 5000)), jnp.ones((5000, 10))
    f = jax.jit(lambda a, b, c: jnp.tanh(a @ b) @ c)  # tanh(a @ b): 40 MB, a temporary
    for _ in range(5):
        f(a, b, c).block_until_ready()
    faults = []
    for _ in range(15):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        f(a, b, c).block_until_ready()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(statistics.median(faults))
    """
)


def faults_per_call(**env):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, "PYTHONPATH": ROOT, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings (Linux)")
def test_large_temporaries_reuse_pages_unless_opted_out():
    assert _host_allocator.configure()  # this process runs on glibc
    tuned = faults_per_call()
    system = faults_per_call(SHOAL_HOST_ALLOCATOR="system")
    # 40 MB of fresh 4 KiB pages is ~9,800 faults per call with glibc's defaults.
    assert system > 5000, system
    assert tuned < 100, tuned


def test_opt_out_leaves_the_allocator_alone(monkeypatch):
    monkeypatch.setenv("SHOAL_HOST_ALLOCATOR", "system")
    assert _host_allocator._apply() is False
