"""`shoal launch`: run N local processes of one script as a multi-process JAX job.

    shoal launch --nproc 2 --devices-per-proc 2 train.py --epochs 3

starts `python train.py --epochs 3` twice. Each process (rank `i`) gets these environment
variables, which `shoal.distribution.initialize()` reads when called with no arguments:

- `SHOAL_COORDINATOR_ADDRESS=127.0.0.1:PORT` (a free local port; rank 0 hosts the
  coordinator), `SHOAL_NUM_PROCESSES=N`, `SHOAL_PROCESS_ID=i`;
- `--platform cpu` (default): `JAX_PLATFORMS=cpu`, and with `--devices-per-proc K`,
  `--xla_force_host_platform_device_count=K` appended to `XLA_FLAGS` (K virtual CPU devices);
- `--platform gpu`: `CUDA_VISIBLE_DEVICES` lists the K devices of rank `i` (ids `i*K` ..
  `i*K + K - 1`, counted within the launcher's own `CUDA_VISIBLE_DEVICES` when that is set);
  K defaults to 1 there, as JAX does for SLURM/MPI jobs;
- `PYTHONUNBUFFERED=1`, so output streams live.

Every line a process writes is echoed with its rank (`[rank 1] ...`), stdout to stdout and
stderr to stderr. When a process fails (non-zero exit or killed by a signal), the launcher
stops the others (SIGTERM to each process group, SIGKILL after `grace_seconds`) and exits
with the failed rank's code. SIGINT / SIGTERM / SIGHUP to the launcher are forwarded the same
way. Children run in their own sessions with stdin closed; if the launcher itself is killed
with SIGKILL it cannot clean up, and the children die on their next write to the closed pipe.

Each rank runs the script through a few lines of standard-library code (`_RUNNER`, which
imports nothing else, so a script can still set JAX's environment variables before it imports
jax): `runpy.run_path(script, run_name="__main__")` with `sys.argv` and `sys.path[0]` as
`python script.py` would have them. Why: `jax.distributed` shuts down at exit through a
barrier that waits for every process (up to 5 minutes), so a rank that raised or called
`sys.exit(3)` would sit in that barrier instead of exiting, and the launcher would never learn
of the failure. The runner prints the traceback and leaves with `os._exit(code)` when the
script fails; a script that succeeds exits normally, barrier included.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

_PLATFORMS = ("cpu", "gpu")
_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
_POLL_SECONDS = 0.05

# `python -c _RUNNER script args...`; see the module docstring. Standard library only.
_RUNNER = """\
import os, runpy, sys, traceback
script = os.path.abspath(sys.argv[1])
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(script)
code = 0
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as stop:
    if stop.code is None or isinstance(stop.code, int):
        code = stop.code or 0
    else:
        print(stop.code, file=sys.stderr)
        code = 1
except BaseException as error:
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    traceback.print_exception(type(error), error, tb or error.__traceback__)
    code = 130 if isinstance(error, KeyboardInterrupt) else 1
if code:
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
"""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_arguments(script, args, nproc, devices_per_proc, platform, env, grace_seconds):
    """Validate `launch`'s arguments before anything starts; raises ValueError."""
    if not _is_int(nproc) or nproc < 1:
        raise ValueError(
            f"shoal launch: argument `nproc` must be a positive integer, got {nproc!r}"
        )
    if devices_per_proc is not None and (not _is_int(devices_per_proc) or devices_per_proc < 1):
        raise ValueError(
            "shoal launch: argument `devices_per_proc` must be a positive integer or None, "
            f"got {devices_per_proc!r}"
        )
    if platform not in _PLATFORMS:
        raise ValueError(
            f"shoal launch: argument `platform` must be one of {list(_PLATFORMS)}, got {platform!r}"
        )
    if not isinstance(script, (str, os.PathLike)):
        raise ValueError(
            f"shoal launch: argument `script` must be the path of a Python file, got {script!r}"
        )
    if not os.path.isfile(script):
        raise ValueError(
            "shoal launch: argument `script` must be the path of an existing Python file, "
            f"got {os.fspath(script)!r} (no such file)"
        )
    if isinstance(args, str) or not isinstance(args, Sequence):
        raise ValueError(f"shoal launch: argument `args` must be a list of strings, got {args!r}")
    if not all(isinstance(a, str) for a in args):
        raise ValueError(f"shoal launch: argument `args` must be a list of strings, got {args!r}")
    if env is not None and not (
        isinstance(env, Mapping) and all(isinstance(v, str) for v in env.values())
    ):
        raise ValueError(
            f"shoal launch: argument `env` must be a mapping of strings to strings, got {env!r}"
        )
    if (
        not isinstance(grace_seconds, (int, float))
        or isinstance(grace_seconds, bool)
        or not grace_seconds >= 0
    ):
        raise ValueError(
            "shoal launch: argument `grace_seconds` must be a non-negative number, "
            f"got {grace_seconds!r}"
        )


def free_port() -> int:
    """A TCP port nothing listens on now (the coordinator binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def child_env(base, rank, nproc, address, devices_per_proc, platform) -> dict:
    """The environment of rank `rank` (see the module docstring)."""
    env = dict(base)
    env.update(
        SHOAL_COORDINATOR_ADDRESS=address,
        SHOAL_NUM_PROCESSES=str(nproc),
        SHOAL_PROCESS_ID=str(rank),
        PYTHONUNBUFFERED="1",
    )
    if platform == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
        if devices_per_proc is not None:
            flags = [f for f in env.get("XLA_FLAGS", "").split() if _DEVICE_COUNT_FLAG not in f]
            env["XLA_FLAGS"] = " ".join([*flags, f"{_DEVICE_COUNT_FLAG}={devices_per_proc}"])
    else:
        k = devices_per_proc or 1
        visible = env.get("CUDA_VISIBLE_DEVICES", "").strip()
        pool = [d.strip() for d in visible.split(",")] if visible else None
        wanted = range(rank * k, rank * k + k)
        if pool is not None and len(pool) < nproc * k:
            raise ValueError(
                f"shoal launch: --nproc {nproc} x --devices-per-proc {k} needs {nproc * k} GPUs, "
                f"but CUDA_VISIBLE_DEVICES={visible!r} lists {len(pool)}"
            )
        env["CUDA_VISIBLE_DEVICES"] = ",".join(pool[i] if pool else str(i) for i in wanted)
    return env


class _Echo:
    """Copies one child pipe to a stream, line by line, each line prefixed with the rank."""

    def __init__(self, pipe, stream, prefix, lock):
        self.thread = threading.Thread(
            target=self._run, args=(pipe, stream, prefix, lock), daemon=True
        )
        self.thread.start()

    @staticmethod
    def _run(pipe, stream, prefix, lock):
        broken = False
        with pipe:
            for raw in iter(pipe.readline, b""):
                if broken:
                    continue  # keep draining so the child never blocks on a full pipe
                line = raw.decode("utf-8", errors="replace")
                if not line.endswith("\n"):
                    line += "\n"
                try:
                    with lock:
                        stream.write(prefix + line)
                        stream.flush()
                except (BrokenPipeError, ValueError, OSError):
                    broken = True


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _describe(code) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} ({-code})"
    return f"exited with code {code}"


class _Launch:
    def __init__(self, grace_seconds, stdout, stderr):
        self.grace_seconds = grace_seconds
        self.stdout, self.stderr = stdout, stderr
        self.procs: list[subprocess.Popen] = []
        self.echoes: list[_Echo] = []
        self.lock = threading.Lock()
        self.received: int | None = None
        self.signals = 0
        self.finished = False

    def on_signal(self, signum, frame):
        if self.received is None:
            self.received = signum
        self.signals += 1

    def say(self, message):
        with self.lock:
            try:
                self.stderr.write(f"shoal launch: {message}\n")
                self.stderr.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass

    def start(self, rank, command, env):
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: we stop it and its children
        )
        self.procs.append(proc)
        prefix = f"[rank {rank}] "
        self.echoes.append(_Echo(proc.stdout, self.stdout, prefix, self.lock))
        self.echoes.append(_Echo(proc.stderr, self.stderr, prefix, self.lock))

    def wait(self) -> tuple[int, int] | None:
        """Until all exit 0 (None), one fails ((rank, code)) or a signal arrives."""
        while self.received is None:
            for rank, proc in enumerate(self.procs):
                code = proc.poll()
                if code is not None and code != 0:
                    return rank, code
            if all(proc.returncode == 0 for proc in self.procs):
                return None
            time.sleep(_POLL_SECONDS)
        return None

    def stop(self, first_signal=signal.SIGTERM) -> int:
        """Stop every process group; returns how many processes were still running."""
        running = [p for p in self.procs if p.poll() is None]
        for proc in self.procs:
            # Also the groups of exited ranks: their own children may still run.
            _signal_group(proc, first_signal)
        deadline = time.monotonic() + self.grace_seconds
        signals = self.signals
        # A second Ctrl-C (or SIGTERM) skips the rest of the grace period.
        while (
            time.monotonic() < deadline
            and self.signals == signals
            and any(p.poll() is None for p in self.procs)
        ):
            time.sleep(_POLL_SECONDS)
        for proc in self.procs:
            _signal_group(proc, signal.SIGKILL)
        for proc in self.procs:
            proc.wait()
        return len(running)

    def finish(self):
        if self.finished:
            return
        self.finished = True
        # Lines still in the pipes are echoed; a pipe held open by a stray grandchild does
        # not keep us waiting past the grace period.
        deadline = time.monotonic() + max(self.grace_seconds, 1.0)
        for echo in self.echoes:
            echo.thread.join(max(0.0, deadline - time.monotonic()))
        if any(echo.thread.is_alive() for echo in self.echoes):
            for proc in self.procs:
                _signal_group(proc, signal.SIGKILL)


def launch(
    script,
    args: Sequence[str] = (),
    *,
    nproc: int,
    devices_per_proc: int | None = None,
    platform: str = "cpu",
    env: Mapping[str, str] | None = None,
    grace_seconds: float = 5.0,
) -> int:
    """Run `nproc` local processes of `python script *args` as one JAX job; returns an exit code.

    Args:
        script: path of the Python script every process runs.
        args: its command-line arguments.
        nproc: number of processes (ranks 0 .. nproc - 1).
        devices_per_proc: devices each process sees: virtual CPU devices with
            `platform="cpu"` (default: 1), GPUs with `platform="gpu"` (default: 1).
        platform: "cpu" or "gpu".
        env: extra environment variables for every process (on top of `os.environ`).
        grace_seconds: how long stopped processes get between SIGTERM and SIGKILL.

    Returns:
        0 when every rank exited 0; otherwise the first failed rank's exit code (128 + the
        signal number when it was killed by a signal, or when the launcher was interrupted).

    Example:

        from shoal.distribution.launch import launch
        code = launch("train.py", ["--epochs", "3"], nproc=2, devices_per_proc=2)
    """
    check_arguments(script, args, nproc, devices_per_proc, platform, env, grace_seconds)
    base = {**os.environ, **(env or {})}
    address = f"127.0.0.1:{free_port()}"
    envs = [
        child_env(base, rank, nproc, address, devices_per_proc, platform) for rank in range(nproc)
    ]
    command = [sys.executable, "-c", _RUNNER, os.fspath(script), *args]

    run = _Launch(float(grace_seconds), sys.stdout, sys.stderr)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        handled = [signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)]
        previous = {sig: signal.signal(sig, run.on_signal) for sig in handled if sig}
    try:
        for rank in range(nproc):
            run.start(rank, command, envs[rank])
        failure = run.wait()
        if run.received is not None:
            received = run.received
            stopped = run.stop(first_signal=received)
            message = f"received {signal.Signals(received).name}; stopped {stopped} process(es)"
            code = 128 + received
        elif failure is not None:
            rank, code = failure
            stopped = run.stop()
            message = f"rank {rank} {_describe(code)}"
            if nproc > 1:
                message += f"; stopped the other {stopped} process(es)"
            code = code if code > 0 else 128 - code
        else:
            message, code = None, 0
        run.finish()
        if message:
            run.say(message)  # last, after the ranks' remaining output
        return code
    except BaseException:
        run.stop()
        run.finish()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
