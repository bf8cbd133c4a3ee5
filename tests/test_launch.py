"""`shoal launch`: a real 2-process x 2-CPU-device JAX job, failure handling, argument errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from shoal import cli
from shoal.distribution import launch as launch_mod

REPO = Path(__file__).resolve().parents[1]


def _env():
    # The scripts live in tmp_path, so `import shoal` must find the checkout.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def _write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _shoal_launch(*argv, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "shoal", "launch", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=_env(),
    )


def _alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped by its new parent) is not running
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def _assert_all_dead(pids):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], f"still running: {pids}"


def _read_pids(tmp_path, count):
    files = sorted(tmp_path.glob("pids_*"))
    assert len(files) == count, files
    return [int(p) for f in files for p in f.read_text().split()]


def test_two_processes_of_two_cpu_devices_share_one_global_array(tmp_path):
    script = _write(
        tmp_path,
        "job.py",
        """
        import numpy as np
        import jax
        import jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        import shoal
        from shoal.distribution import multihost

        multihost.initialize()
        assert jax.process_count() == 2, jax.process_count()
        assert jax.device_count() == 4, jax.devices()
        assert jax.local_device_count() == 2, jax.local_devices()
        mesh = Mesh(np.array(jax.devices()), ("data",))
        rows = np.arange(8, dtype=np.float32)[multihost.host_local_slice(8)]
        x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), rows)
        total = jax.jit(jnp.sum, out_shardings=NamedSharding(mesh, P()))(x)
        print(f"global sum {float(total):.1f} on process {multihost.process_index()}")
        print(f"rows {rows.tolist()} primary {multihost.is_primary()}")
        # Unseeded weights must agree across processes (initialize agrees on a seed).
        dense = shoal.layers.Dense(3)
        dense.build((None, 2))
        print(f"kernel {np.asarray(dense.kernel.value).ravel().tolist()}")
        """,
    )
    proc = _shoal_launch("--nproc", 2, "--devices-per-proc", 2, script)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines and all(re.match(r"\[rank [01]\] ", line) for line in lines), lines
    assert "[rank 0] global sum 28.0 on process 0" in lines
    assert "[rank 1] global sum 28.0 on process 1" in lines
    assert "[rank 0] rows [0.0, 1.0, 2.0, 3.0] primary True" in lines
    assert "[rank 1] rows [4.0, 5.0, 6.0, 7.0] primary False" in lines
    kernels = {line.split("] ", 1)[1] for line in lines if "] kernel " in line}
    assert len(kernels) == 1, kernels
    assert all(re.match(r"\[rank [01]\] ", line) for line in proc.stderr.splitlines())


def test_a_failing_rank_stops_the_job_and_its_children(tmp_path):
    # Rank 1 exits with 3 once rank 0 is up; rank 0 (and a grandchild it started) would sleep
    # 120 s. jax.distributed is initialized, so a plain exit would wait in JAX's shutdown barrier.
    script = _write(
        tmp_path,
        "crash.py",
        """
        import os, subprocess, sys, time
        from pathlib import Path
        from shoal.distribution import multihost

        multihost.initialize()
        rank, out = multihost.process_index(), Path(sys.argv[1])
        pids = [os.getpid()]
        if rank == 0:
            sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
            pids.append(subprocess.Popen(sleeper).pid)
        (out / f"pids_{rank}.tmp").write_text(" ".join(map(str, pids)))
        (out / f"pids_{rank}.tmp").rename(out / f"pids_{rank}")
        if rank == 1:
            while not (out / "pids_0").exists():
                time.sleep(0.05)
            print("rank 1 gives up", flush=True)
            sys.exit(3)
        time.sleep(120)
        """,
    )
    start = time.monotonic()
    proc = _shoal_launch("--nproc", 2, "--grace-seconds", 1, script, tmp_path, timeout=90)
    elapsed = time.monotonic() - start
    assert elapsed < 60, elapsed
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "shoal launch: rank 1 exited with code 3; stopped the other 1 process(es)" in (
        proc.stderr
    )
    assert "[rank 1] rank 1 gives up" in proc.stdout
    _assert_all_dead(_read_pids(tmp_path, 2))


def test_a_rank_killed_by_a_signal_is_reported(tmp_path, capsys):
    script = _write(
        tmp_path,
        "killed.py",
        """
        import os, signal, time
        if os.environ["SHOAL_PROCESS_ID"] == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(120)
        """,
    )
    start = time.monotonic()
    code = launch_mod.launch(script, nproc=2, grace_seconds=1.0)
    assert time.monotonic() - start < 30
    assert code == 128 + signal.SIGKILL
    err = capsys.readouterr().err
    assert "rank 1 was killed by SIGKILL (9); stopped the other 1 process(es)" in err


def test_sigint_to_the_launcher_stops_every_rank(tmp_path):
    script = _write(
        tmp_path,
        "sleepy.py",
        """
        import os, sys, time
        from pathlib import Path
        out = Path(sys.argv[1])
        rank = os.environ["SHOAL_PROCESS_ID"]
        (out / f"pids_{rank}.tmp").write_text(str(os.getpid()))
        (out / f"pids_{rank}.tmp").rename(out / f"pids_{rank}")
        time.sleep(120)
        """,
    )
    launcher = subprocess.Popen(
        [sys.executable, "-m", "shoal.cli", "launch", "--nproc", "2", str(script), str(tmp_path)],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("pids_?"))) < 2 and time.monotonic() < deadline:
            assert launcher.poll() is None, launcher.communicate()
            time.sleep(0.05)
        launcher.send_signal(signal.SIGINT)
        _, err = launcher.communicate(timeout=30)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 128 + signal.SIGINT, err
    assert "received SIGINT; stopped 2 process(es)" in err
    _assert_all_dead(_read_pids(tmp_path, 2))


def test_output_is_prefixed_line_by_line_on_both_streams(tmp_path, capsys):
    script = _write(
        tmp_path,
        "talk.py",
        """
        import os, sys
        rank = os.environ["SHOAL_PROCESS_ID"]
        print(f"out a {rank}\\nout b {rank}")
        sys.stderr.write(f"err {rank} no newline")
        """,
    )
    assert launch_mod.launch(script, nproc=2) == 0
    out, err = capsys.readouterr()
    for rank in (0, 1):
        assert f"[rank {rank}] out a {rank}\n" in out and f"[rank {rank}] out b {rank}\n" in out
        assert f"[rank {rank}] err {rank} no newline\n" in err


def test_argument_errors_name_the_argument(tmp_path, capsys):
    script = _write(tmp_path, "ok.py", "print('hi')\n")
    with pytest.raises(ValueError, match=r"argument `nproc` must be a positive integer, got 0"):
        launch_mod.launch(script, nproc=0)
    with pytest.raises(ValueError, match=r"`nproc` must be a positive integer, got '2'"):
        launch_mod.launch(script, nproc="2")
    with pytest.raises(ValueError, match=r"`devices_per_proc` must be a positive integer"):
        launch_mod.launch(script, nproc=1, devices_per_proc=0)
    with pytest.raises(ValueError, match=r"`platform` must be one of \['cpu', 'gpu'\], got 'tpu'"):
        launch_mod.launch(script, nproc=1, platform="tpu")
    with pytest.raises(ValueError, match=r"`args` must be a list of strings"):
        launch_mod.launch(script, "--epochs 3", nproc=1)
    missing = tmp_path / "missing.py"
    with pytest.raises(ValueError, match=r"argument `script` must be .* existing .*missing\.py"):
        launch_mod.launch(missing, nproc=1)

    assert cli.main(["launch", "--nproc", "0", str(script)]) == 2
    assert "argument `nproc` must be a positive integer, got 0" in capsys.readouterr().err
    assert cli.main(["launch", "--nproc", "2", str(missing)]) == 2
    assert "argument `script`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["launch", str(script)])
    assert "--nproc" in capsys.readouterr().err


def test_script_arguments_pass_through_untouched(tmp_path, capsys):
    script = _write(tmp_path, "argv.py", "import sys\nprint(sys.argv[1:], __name__)\n")
    assert cli.main(["launch", "--nproc", "1", str(script), "--nproc", "7", "-x", "--"]) == 0
    assert "[rank 0] ['--nproc', '7', '-x', '--'] __main__" in capsys.readouterr().out


def test_child_environment():
    base = {"XLA_FLAGS": "--xla_foo=1 --xla_force_host_platform_device_count=8", "A": "b"}
    env = launch_mod.child_env(base, 1, 2, "127.0.0.1:1234", 4, "cpu")
    assert env["A"] == "b"
    assert env["SHOAL_COORDINATOR_ADDRESS"] == "127.0.0.1:1234"
    assert (env["SHOAL_NUM_PROCESSES"], env["SHOAL_PROCESS_ID"]) == ("2", "1")
    assert env["XLA_FLAGS"] == "--xla_foo=1 --xla_force_host_platform_device_count=4"
    assert env["JAX_PLATFORMS"] == "cpu"
    assert "XLA_FLAGS" not in launch_mod.child_env({}, 0, 1, "h:1", None, "cpu")

    assert launch_mod.child_env({}, 1, 2, "h:1", 2, "gpu")["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert launch_mod.child_env({}, 1, 2, "h:1", None, "gpu")["CUDA_VISIBLE_DEVICES"] == "1"
    pool = {"CUDA_VISIBLE_DEVICES": "4,5,6,7"}
    assert launch_mod.child_env(pool, 1, 2, "h:1", 2, "gpu")["CUDA_VISIBLE_DEVICES"] == "6,7"
    with pytest.raises(ValueError, match="needs 6 GPUs"):
        launch_mod.child_env(pool, 0, 3, "h:1", 2, "gpu")


def test_launch_from_a_worker_thread_leaves_signal_handlers_alone(tmp_path, capsys):
    script = _write(tmp_path, "ok.py", "print('hi')\n")
    before = signal.getsignal(signal.SIGTERM)
    result = []
    worker = threading.Thread(target=lambda: result.append(launch_mod.launch(script, nproc=2)))
    worker.start()
    worker.join(60)
    assert result == [0]
    assert signal.getsignal(signal.SIGTERM) is before
    assert capsys.readouterr().out.count("] hi") == 2
