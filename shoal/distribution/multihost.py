"""Multi-process runs: `initialize()` over `jax.distributed`, and who-am-I helpers.

Every process runs the same program. Call `initialize()` first, before any JAX computation;
afterwards `jax.devices()` lists the devices of all processes, and each process feeds its own
rows of every global batch (`host_local_slice`).

Where the settings come from, per setting, first found wins:

1. the arguments (Keras 3 semantics: `job_addresses` is a comma-separated list of
   `host:port` whose first entry is the coordinator, process 0);
2. the variables `shoal launch` sets: `SHOAL_COORDINATOR_ADDRESS`, `SHOAL_NUM_PROCESSES`,
   `SHOAL_PROCESS_ID`;
3. Keras 3's variables: `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `KERAS_DISTRIBUTION_NUM_PROCESSES`,
   `KERAS_DISTRIBUTION_PROCESS_ID`;
4. none of these: `jax.distributed.initialize()` runs with no arguments, so JAX detects the
   cluster itself (SLURM, Open MPI, Kubernetes, Cloud TPU; also `JAX_COORDINATOR_ADDRESS`).

`initialize` may be called more than once in a process: a call that resolves to the same
settings as the first does nothing; one that asks for different settings raises RuntimeError
(JAX cannot re-initialize a running distributed system).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import numpy as np

ENV_COORDINATOR_ADDRESS = "SHOAL_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "SHOAL_NUM_PROCESSES"
ENV_PROCESS_ID = "SHOAL_PROCESS_ID"
KERAS_ENV_JOB_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
KERAS_ENV_NUM_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
KERAS_ENV_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"

_WHERE = "shoal.distribution.initialize"
# The settings the first successful call resolved to (None: not called yet).
_STATE: dict = {"settings": None}


def _from_env(*names):
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip() != "":
            return value.strip(), name
    return None, None


def _env_int(value, source):
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"{_WHERE}: environment variable {source} must be an integer, got {value!r}"
        ) from None


def _setting(value, argument, *env_names, parse):
    """(value, where it came from): the argument if given, else the first environment
    variable of `env_names` that is set, parsed by `parse(text, variable_name)`."""
    if value is not None:
        return value, f"argument `{argument}`"
    text, name = _from_env(*env_names)
    if text is None:
        return None, f"argument `{argument}`"
    return parse(text, name), f"environment variable {name}"


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _split_addresses(job_addresses, source):
    if isinstance(job_addresses, str):
        parts = job_addresses.split(",")
    elif isinstance(job_addresses, Sequence) and all(isinstance(a, str) for a in job_addresses):
        parts = list(job_addresses)
    else:
        raise ValueError(
            f"{_WHERE}: {source} must be a comma-separated string of 'host:port' addresses, "
            f"got {job_addresses!r}"
        )
    parts = [p.strip() for p in parts]
    if not parts or any(not p for p in parts):
        raise ValueError(
            f"{_WHERE}: {source} must list 'host:port' addresses separated by commas, "
            f"got {job_addresses!r}"
        )
    host, _, port = parts[0].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"{_WHERE}: the coordinator address (first entry of {source}) must be "
            f"'host:port', got {parts[0]!r}"
        )
    return parts


def resolve_settings(
    job_addresses=None, num_processes=None, process_id=None, local_device_ids=None
) -> dict:
    """The keyword arguments `initialize` passes to `jax.distributed.initialize`.

    Only settings that were found are included; `{}` means "let JAX auto-detect".
    """
    job_addresses, address_source = _setting(
        job_addresses,
        "job_addresses",
        ENV_COORDINATOR_ADDRESS,
        KERAS_ENV_JOB_ADDRESSES,
        parse=lambda text, name: text,
    )
    num_processes, n_source = _setting(
        num_processes, "num_processes", ENV_NUM_PROCESSES, KERAS_ENV_NUM_PROCESSES, parse=_env_int
    )
    process_id, id_source = _setting(
        process_id, "process_id", ENV_PROCESS_ID, KERAS_ENV_PROCESS_ID, parse=_env_int
    )

    settings: dict = {}
    if num_processes is not None:
        if not _is_int(num_processes) or num_processes < 1:
            raise ValueError(
                f"{_WHERE}: {n_source} must be a positive integer, got {num_processes!r}"
            )
        settings["num_processes"] = int(num_processes)
    if job_addresses is not None:
        addresses = _split_addresses(job_addresses, address_source)
        if len(addresses) > 1:
            # Keras semantics: one address per job; JAX needs only the coordinator's.
            if "num_processes" in settings and settings["num_processes"] != len(addresses):
                raise ValueError(
                    f"{_WHERE}: {address_source} lists {len(addresses)} jobs "
                    f"({','.join(addresses)}), but {n_source} is {settings['num_processes']}"
                )
            settings["num_processes"] = len(addresses)
        settings["coordinator_address"] = addresses[0]
    if process_id is not None:
        if not _is_int(process_id) or process_id < 0:
            raise ValueError(
                f"{_WHERE}: {id_source} must be a non-negative integer, got {process_id!r}"
            )
        n = settings.get("num_processes")
        if n is not None and process_id >= n:
            raise ValueError(
                f"{_WHERE}: {id_source} must be in [0, num_processes) = [0, {n}), got {process_id}"
            )
        settings["process_id"] = int(process_id)
    if local_device_ids is not None:
        ids = local_device_ids if isinstance(local_device_ids, Sequence) else [local_device_ids]
        if isinstance(ids, str) or not ids or not all(_is_int(i) and i >= 0 for i in ids):
            raise ValueError(
                f"{_WHERE}: argument `local_device_ids` must be a non-negative integer or a "
                f"non-empty sequence of them, got {local_device_ids!r}"
            )
        settings["local_device_ids"] = [int(i) for i in ids]
    return settings


def initialize(job_addresses=None, num_processes=None, process_id=None, local_device_ids=None):
    """Join this process to a multi-process JAX run (Keras 3's `distribution.initialize`).

    Call it at the top of the program, before any JAX computation, in every process.

    Args:
        job_addresses: comma-separated `host:port` addresses of all jobs, or just the
            coordinator's; the first entry is the coordinator (process 0), which listens on
            that port. Defaults to `SHOAL_COORDINATOR_ADDRESS`, then
            `KERAS_DISTRIBUTION_JOB_ADDRESSES`.
        num_processes: number of processes in the run (positive int). Defaults to
            `SHOAL_NUM_PROCESSES`, then `KERAS_DISTRIBUTION_NUM_PROCESSES`, then the number
            of `job_addresses` when several are listed.
        process_id: this process's rank, `0 <= process_id < num_processes`. Defaults to
            `SHOAL_PROCESS_ID`, then `KERAS_DISTRIBUTION_PROCESS_ID`.
        local_device_ids: restrict this process to these local accelerator ids (passed to
            `jax.distributed.initialize`).

    With none of these given or set, JAX's own cluster detection decides (SLURM, Open MPI,
    Kubernetes, TPU pods).

    Example (what `shoal launch --nproc 2 train.py` arranges for you):

        # train.py
        import shoal
        shoal.distribution.initialize()
        print(shoal.distribution.process_index(), "of", shoal.distribution.process_count())
    """
    settings = resolve_settings(job_addresses, num_processes, process_id, local_device_ids)
    previous = _STATE["settings"]
    if previous is not None:
        if settings == previous or not settings:
            return
        raise RuntimeError(
            f"{_WHERE}: already initialized with {previous or 'auto-detected settings'}; "
            f"cannot re-initialize with {settings} (call it once per process)"
        )
    if jax.distributed.is_initialized():
        if not settings:
            _STATE["settings"] = settings
            return
        raise RuntimeError(
            f"{_WHERE}: jax.distributed was already initialized outside shoal; cannot "
            f"re-initialize with {settings}"
        )
    # Cross-process collectives on CPU need gloo. Only the CPU backend reads this option, so
    # it is harmless on GPU/TPU; newer jax already defaults to gloo, and a user's explicit
    # choice (e.g. "mpi") is kept.
    if jax.config.jax_cpu_collectives_implementation in (None, "", "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**settings)
    _STATE["settings"] = settings
    _agree_on_seed()


def _agree_on_seed():
    """Give every process the same global seed, as Keras' `initialize_rng` does.

    Unseeded weight initializers take their seeds from Python's `random` (and random ops
    from shoal's global stream); unseeded, each process would pick its own and replicated
    weights would silently differ between processes.
    """
    from shoal.backend import random as shoal_random

    # TODO(lead): a public `get_seed()` in shoal.backend.random would avoid reading _GLOBAL.
    if jax.process_count() == 1 or shoal_random._GLOBAL["seed"] is not None:
        return
    from jax.experimental import multihost_utils

    from shoal.utils.seeding import set_random_seed

    local = np.asarray(np.random.SeedSequence().entropy % (2**31), dtype=np.int32)
    seed = multihost_utils.broadcast_one_to_all(local)
    # Python's `random` too: unseeded initializers draw their seeds from it, as in Keras.
    set_random_seed(int(seed))


def process_index() -> int:
    """This process's rank, 0 .. process_count() - 1 (0 in a single-process run)."""
    return jax.process_index()


def process_count() -> int:
    """The number of processes in the run (1 unless `initialize` joined several)."""
    return jax.process_count()


def is_primary() -> bool:
    """True in process 0, the one that should log, print and write checkpoints."""
    return jax.process_index() == 0


def host_local_slice(n_global_rows: int) -> slice:
    """The contiguous rows of a global batch of `n_global_rows` that this process feeds.

    The batch is split equally: process `p` of `c` feeds rows `[p * n / c, (p + 1) * n / c)`,
    which matches a batch sharded over devices ordered by process (as `jax.devices()` is).

    >>> host_local_slice(8)  # single process
    slice(0, 8, None)
    """
    if not _is_int(n_global_rows) or n_global_rows < 0:
        raise ValueError(
            "host_local_slice: argument `n_global_rows` must be a non-negative integer, "
            f"got {n_global_rows!r}"
        )
    count, index = jax.process_count(), jax.process_index()
    if n_global_rows % count:
        raise ValueError(
            f"host_local_slice: a global batch of {n_global_rows} rows cannot be split equally "
            f"over {count} processes; use a global batch size that is a multiple of {count}"
        )
    per = int(n_global_rows) // count
    return slice(index * per, (index + 1) * per)
