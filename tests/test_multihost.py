"""`shoal.distribution.initialize`'s argument resolution (jax.distributed mocked) and helpers.

The real multi-process run is in tests/test_launch.py.
"""

from __future__ import annotations

import jax
import pytest

from shoal.distribution import multihost

_ENV = (
    "SHOAL_COORDINATOR_ADDRESS",
    "SHOAL_NUM_PROCESSES",
    "SHOAL_PROCESS_ID",
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


@pytest.fixture
def calls(monkeypatch):
    """Captures jax.distributed.initialize's arguments; never initializes for real."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(multihost._STATE, "settings", None)
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    seen = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **kw: seen.append((a, kw)))
    return seen


def test_nothing_given_lets_jax_auto_detect(calls):
    multihost.initialize()
    assert calls == [((), {})]


def test_launcher_environment(calls, monkeypatch):
    monkeypatch.setenv("SHOAL_COORDINATOR_ADDRESS", "127.0.0.1:4321")
    monkeypatch.setenv("SHOAL_NUM_PROCESSES", "2")
    monkeypatch.setenv("SHOAL_PROCESS_ID", "1")
    multihost.initialize()
    assert calls == [
        ((), {"coordinator_address": "127.0.0.1:4321", "num_processes": 2, "process_id": 1})
    ]


def test_keras_environment_and_semantics(calls, monkeypatch):
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "10.0.0.1:1234,10.0.0.2:2345")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "1")
    multihost.initialize()
    # The first address is the coordinator; the number of jobs is the number of addresses.
    assert calls[0][1] == {
        "coordinator_address": "10.0.0.1:1234",
        "num_processes": 2,
        "process_id": 1,
    }


def test_arguments_win_over_shoal_env_which_wins_over_keras_env(calls, monkeypatch):
    monkeypatch.setenv("SHOAL_COORDINATOR_ADDRESS", "shoal:1")
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "keras:1")
    monkeypatch.setenv("SHOAL_NUM_PROCESSES", "4")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "8")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "3")
    multihost.initialize(process_id=2, local_device_ids=0)
    assert calls[0][1] == {
        "coordinator_address": "shoal:1",
        "num_processes": 4,
        "process_id": 2,
        "local_device_ids": [0],
    }
    settings = multihost.resolve_settings("a:1,b:2,c:3", 3, 0, [0, 1])
    assert settings == {
        "coordinator_address": "a:1",
        "num_processes": 3,
        "process_id": 0,
        "local_device_ids": [0, 1],
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_processes": 0}, r"argument `num_processes` must be a positive integer, got 0"),
        ({"num_processes": "2"}, r"`num_processes` must be a positive integer, got '2'"),
        ({"num_processes": True}, r"`num_processes` must be a positive integer, got True"),
        ({"process_id": -1}, r"argument `process_id` must be a non-negative integer, got -1"),
        (
            {"num_processes": 2, "process_id": 2},
            r"`process_id` must be in \[0, num_processes\) = \[0, 2\), got 2",
        ),
        ({"job_addresses": "10.0.0.1"}, r"must be 'host:port', got '10.0.0.1'"),
        ({"job_addresses": "a:1,,b:2"}, r"argument `job_addresses` must list 'host:port'"),
        ({"job_addresses": 1234}, r"argument `job_addresses` must be a comma-separated"),
        (
            {"job_addresses": "a:1,b:2", "num_processes": 3},
            r"lists 2 jobs \(a:1,b:2\), but argument `num_processes` is 3",
        ),
        ({"local_device_ids": [-1]}, r"argument `local_device_ids` must be a non-negative"),
    ],
)
def test_bad_arguments_fail_before_initializing(calls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        multihost.initialize(**kwargs)
    assert calls == []


def test_bad_environment_names_the_variable(calls, monkeypatch):
    monkeypatch.setenv("SHOAL_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match=r"environment variable SHOAL_NUM_PROCESSES .*'two'"):
        multihost.initialize()
    monkeypatch.delenv("SHOAL_NUM_PROCESSES")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "5")
    with pytest.raises(ValueError, match=r"environment variable KERAS_DISTRIBUTION_PROCESS_ID"):
        multihost.initialize()
    assert calls == []


def test_a_second_call_with_the_same_settings_is_a_no_op(calls):
    multihost.initialize("h:1", 2, 0)
    multihost.initialize("h:1", 2, 0)
    multihost.initialize()  # nothing asked: keeps the first settings
    assert len(calls) == 1
    with pytest.raises(RuntimeError, match=r"already initialized .*cannot re-initialize"):
        multihost.initialize("h:1", 2, 1)
    assert len(calls) == 1


def test_jax_initialized_elsewhere(calls, monkeypatch):
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: True)
    multihost.initialize()
    assert calls == []
    monkeypatch.setitem(multihost._STATE, "settings", None)
    with pytest.raises(RuntimeError, match=r"already initialized outside shoal"):
        multihost.initialize("h:1", 2, 0)


def test_process_helpers_in_a_single_process():
    assert multihost.process_index() == 0
    assert multihost.process_count() == 1
    assert multihost.is_primary()
    assert multihost.host_local_slice(6) == slice(0, 6)


def test_host_local_slice_splits_the_global_batch(monkeypatch):
    monkeypatch.setattr(jax, "process_count", lambda: 4)
    monkeypatch.setattr(jax, "process_index", lambda: 2)
    assert multihost.host_local_slice(32) == slice(16, 24)
    assert not multihost.is_primary()
    with pytest.raises(ValueError, match=r"global batch of 30 rows .* over 4 processes"):
        multihost.host_local_slice(30)
    with pytest.raises(ValueError, match=r"`n_global_rows` must be a non-negative integer"):
        multihost.host_local_slice(-4)
