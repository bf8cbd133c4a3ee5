"""Host memory allocator settings that keep XLA:CPU's buffers off fresh pages.

XLA:CPU allocates each execution's temporary buffers with `malloc` and frees them when
the execution ends. glibc serves large blocks (from 128 KiB, raised dynamically up to
32 MiB) with `mmap` and unmaps them on `free`, and a thread's own arena can never hold a
block over 64 MiB, which it then always maps. So a training step whose temporaries are
large gets fresh zero pages from the kernel every time: page faults, and the kernel
zero-filling them, on every step. Measured on the 2-core CI VM (2026-11-29): the
Transformer benchmark step had a 154 MB temporary buffer mapped and unmapped per step,
39,000 page faults, 147 ms/step; the MNIST convnet step with im2col convolutions 12,000
faults, 36 ms/step. With the settings below: no faults, 119 and 23 ms/step.

`configure()` (run when shoal is imported) makes glibc keep freed memory for reuse:

- `M_ARENA_MAX = 1`: every thread allocates from the main arena, which has no block
  size limit (so large blocks need no mapping of their own);
- `M_MMAP_MAX = 0`: blocks are never served by `mmap`;
- `M_TRIM_THRESHOLD = 1 GiB`: freed memory at the top of the heap is returned to the
  system only beyond 1 GiB.

The costs: a process keeps (and reuses) the memory of its largest step instead of
returning it between steps, as the allocators of TensorFlow and PyTorch do; and with one
arena XLA compiles more slowly (the MLP benchmark's training step: 0.69-0.73 s against
0.47-0.54 s, first `fit` 1.27-1.39 s against 1.01-1.15 s; `M_MMAP_MAX` and the trim
threshold alone cost nothing there but leave the Transformer's faults, whose buffer is
over a thread arena's 64 MiB). It applies
only to glibc (Linux); `SHOAL_HOST_ALLOCATOR=system` in the environment leaves the
allocator untouched. Threads that allocated before shoal was imported keep their arenas.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**30))

_STATE = {"configured": None}


def configure() -> bool:
    """Apply `SETTINGS` once; returns whether they are in effect."""
    if _STATE["configured"] is None:
        _STATE["configured"] = _apply()
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
