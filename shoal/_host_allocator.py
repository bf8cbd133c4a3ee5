"""Host memory settings that keep XLA:CPU's buffers off fresh pages.

XLA:CPU allocates each execution's temporary buffers with `malloc` and frees them when
the execution ends. glibc serves large blocks (from 128 KiB, raised dynamically up to
32 MiB) with `mmap` and unmaps them on `free`, and a thread's own arena can never hold a
block over 64 MiB, which it then always maps. So a training step whose temporaries are
large gets fresh zero pages from the kernel every time: page faults, and the kernel
zero-filling them, on every step. Measured on the 2-core CI VM (2026-11-29): the
Transformer benchmark step had a 154 MB temporary buffer mapped and unmapped per step,
39,000 page faults, 147 ms/step; the MNIST convnet step with im2col convolutions 12,000
faults, 36 ms/step. With the settings below: no faults, 118-124 and 23 ms/step.

`configure()` (run when shoal is imported):

- glibc keeps freed memory for reuse: `M_MMAP_MAX = 0` (blocks are never served by
  `mmap`) and `M_TRIM_THRESHOLD = 1 GiB` (freed memory at the top of the heap is returned
  to the system only beyond 1 GiB);
- single-device XLA:CPU programs run on the thread that calls them
  (`jax_cpu_enable_async_dispatch=False`), so their temporaries come from that thread's
  arena: for the main thread, the main arena, which has no block size limit. With
  asynchronous dispatch they came from the arenas of XLA's dispatch threads, whose
  blocks over 64 MiB are always mapped. (A program whose inputs are still being computed
  is still dispatched asynchronously: `fit` keeps light fused executions in flight that
  way, while a heavy step, such as the Transformer's, runs inline: 0 faults per step.)

Measured on the same VM (2026-11-29, `benchmarks/worker.py`, 3 rounds, against the
previous setting of one glibc arena for all threads): steady-state samples/s equal or
up to 4% higher (MLP batch 128: 37.8-41.1k vs 36.2-39.6k), first epochs 0.1-0.5 s
shorter (the MLP's 1.0-1.1 s vs 1.2-1.4 s: one arena slowed XLA's compiler by ~0.15 s
per program, its LLVM worker threads contending for it), the Transformer's peak memory
600-760 MB vs 890-1,040 MB. The GIL is released while a program runs, so shoal's
prefetch thread and other Python threads keep running.

The costs: a process keeps (and reuses) the memory of its largest step instead of
returning it between steps, as the allocators of TensorFlow and PyTorch do; calls from
threads other than the main thread, and multi-device programs (which JAX always
dispatches asynchronously), allocate from other arenas and still map their blocks over
64 MiB. Applies only to glibc (Linux). `SHOAL_HOST_ALLOCATOR=system` in the environment
leaves both the allocator and JAX's dispatch alone. The dispatch setting is made when shoal
is imported (which imports JAX for it), and only if JAX has not initialized its backends
yet (JAX used before shoal was imported).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

SETTINGS = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**30))

_STATE = {"configured": None}


def configure() -> bool:
    """Apply `SETTINGS` and inline dispatch once; returns whether they are in effect."""
    if _STATE["configured"] is None:
        _STATE["configured"] = _apply()
        if _STATE["configured"]:
            _dispatch_inline()
    return _STATE["configured"]


def _apply() -> bool:
    if os.environ.get("SHOAL_HOST_ALLOCATOR", "").lower() == "system":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        gnu_version = libc.gnu_get_libc_version  # absent from musl and other libcs
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    gnu_version.restype = ctypes.c_char_p
    return all(mallopt(param, value) == 1 for param, value in SETTINGS)


def _dispatch_inline() -> None:
    """Run single-device CPU programs on the calling thread (see the module docstring).

    Only before JAX initializes its backends: the setting is read when the CPU client is
    made.
    """
    import jax
    from jax._src import xla_bridge

    if not xla_bridge.backends_are_initialized():
        jax.config.update("jax_cpu_enable_async_dispatch", False)
