"""shoal's host settings keep XLA:CPU's large temporary buffers on reused pages."""

import os
import subprocess
import sys
import textwrap

import pytest

import shoal  # noqa: F401
from shoal import _host_allocator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Median page faults per call of a jitted function with an 80 MB temporary buffer (over
# the 64 MiB a glibc thread arena can hold), and whether JAX dispatches asynchronously.
SCRIPT = textwrap.dedent(
    """
    import resource, statistics
    import shoal  # noqa: F401  (configures allocator and dispatch unless opted out)
    import jax, jax.numpy as jnp
    from jax._src import xla_bridge
    a, b, c = jnp.ones((2000, 64)), jnp.ones((64, 10000)), jnp.ones((10000, 10))
    f = jax.jit(lambda a, b, c: jnp.tanh(a @ b) @ c)  # tanh(a @ b): 80 MB, a temporary
    for _ in range(5):
        f(a, b, c).block_until_ready()
    faults = []
    for _ in range(15):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        f(a, b, c).block_until_ready()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(statistics.median(faults), xla_bridge._CPU_ENABLE_ASYNC_DISPATCH.value)
    """
)


def last_line(script, **env):
    """The last line a fresh Python process running `script` prints."""
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": ROOT, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def run_script(**env):
    faults, asynchronous = last_line(SCRIPT, **env).split()
    return float(faults), asynchronous == "True"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings (Linux)")
def test_large_temporaries_reuse_pages_unless_opted_out():
    assert _host_allocator.configure()  # this process runs on glibc
    tuned, tuned_async = run_script()
    system, system_async = run_script(SHOAL_HOST_ALLOCATOR="system")
    # 80 MB of fresh 4 KiB pages is ~19,500 faults per call with glibc's defaults.
    assert system > 10000, system
    assert tuned < 100, tuned
    assert (tuned_async, system_async) == (False, True)


def test_opt_out_leaves_the_allocator_alone(monkeypatch):
    monkeypatch.setenv("SHOAL_HOST_ALLOCATOR", "system")
    assert _host_allocator._apply() is False


def test_dispatch_stays_asynchronous_once_jax_is_initialized():
    script = (
        "import jax; jax.devices()\n"
        "import shoal\n"
        "from jax._src import xla_bridge\n"
        "print(xla_bridge._CPU_ENABLE_ASYNC_DISPATCH.value)"
    )
    assert last_line(script) == "True"
