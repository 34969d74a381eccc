"""engine/distributed.py: --role/--oracle/--worker-id parsed into a Distribution, and what it tells Keras Tuner."""

from __future__ import annotations

import json
import os
import socket

import pytest

from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths
from tuner.engine.distributed import Distribution, log_event, worker_environment

VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


@pytest.fixture
def clean_environment(monkeypatch):
    """None of Keras Tuner's distribution variables set; monkeypatch restores them after the test. (delenv
    alone records nothing for a variable that was not set, and what `apply()` sets would outlive the test.)"""
    for name in VARIABLES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


# --- parse --------------------------------------------------------------------------------------------------


def test_a_chief_at_host_and_port():
    assert Distribution.parse("chief", "10.0.0.5:8000", None) == Distribution("chief", "10.0.0.5", 8000, "chief")


def test_a_chief_is_always_called_chief():
    assert Distribution.parse("chief", "127.0.0.1:8000", "worker7").worker_id == "chief"


def test_a_worker_with_its_id():
    assert Distribution.parse("worker", "node1.lan:65535", "gpu-0") == Distribution("worker", "node1.lan", 65535,
                                                                                    "gpu-0")


def test_a_missing_host_means_this_machine():
    distribution = Distribution.parse("worker", ":8000", "w1")
    assert (distribution.host, distribution.port) == ("127.0.0.1", 8000)


def test_a_worker_without_an_id_gets_one_from_host_and_process():
    distribution = Distribution.parse("worker", "127.0.0.1:8000", None)
    assert distribution.worker_id.startswith("worker-") and distribution.worker_id.endswith(f"-{os.getpid()}")
    if "chief" not in socket.gethostname():
        assert socket.gethostname() in distribution.worker_id


@pytest.mark.parametrize("role", ["chief", "worker"])
@pytest.mark.parametrize("oracle", [None, ""])
def test_the_oracle_address_is_required(role, oracle):
    with pytest.raises(ToolkitError, match=f"--role {role} needs --oracle HOST:PORT"):
        Distribution.parse(role, oracle, "w1")


@pytest.mark.parametrize("oracle", [
    "127.0.0.1",  # no port
    "127.0.0.1:",  # empty port
    "localhost:http",  # not a number
    "host: 8000",
    "host:-1",
    "host:0",  # out of range
    "host:65536",
    "host:8000/x",
])
def test_a_malformed_oracle_address_is_refused(oracle):
    with pytest.raises(ToolkitError, match=r"is not HOST:PORT: use e\.g\. 127\.0\.0\.1:8000"):
        Distribution.parse("chief", oracle, None)


def test_a_port_of_digits_int_cannot_read_is_refused():
    with pytest.raises(ToolkitError):
        Distribution.parse("chief", "host:²", None)


@pytest.mark.parametrize("worker_id", ["chief", "chief-2", "my-chief-worker"])
def test_a_worker_id_must_not_contain_chief(worker_id):
    # Keras Tuner takes any tuner id containing "chief" for the chief (distribute/utils.is_chief_oracle).
    with pytest.raises(ToolkitError, match="must not contain 'chief'"):
        Distribution.parse("worker", "127.0.0.1:8000", worker_id)


@pytest.mark.parametrize("worker_id", ["../w", "a/b", "w 1", ".."])
def test_a_worker_id_must_be_a_plain_name(worker_id):
    # It names files in the run folder (workers/<id>.jsonl, .worker-<id>.lock).
    with pytest.raises(ToolkitError, match="is not allowed"):
        Distribution.parse("worker", "127.0.0.1:8000", worker_id)


# --- apply --------------------------------------------------------------------------------------------------


def test_apply_sets_keras_tuners_variables_for_a_chief(clean_environment):
    Distribution.parse("chief", "10.0.0.5:8123", None).apply()
    assert {name: os.environ[name] for name in VARIABLES} == {
        "KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "10.0.0.5", "KERASTUNER_ORACLE_PORT": "8123"}


def test_apply_sets_keras_tuners_variables_for_a_worker(clean_environment):
    Distribution.parse("worker", ":9000", "worker3").apply()
    assert {name: os.environ[name] for name in VARIABLES} == {
        "KERASTUNER_TUNER_ID": "worker3", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "9000"}


def test_keras_tuner_reads_the_roles_from_those_variables(clean_environment):
    from keras_tuner.src.distribute import utils as dist_utils

    assert not dist_utils.has_chief_oracle()  # nothing set: one process does it all
    Distribution.parse("chief", "127.0.0.1:8000", None).apply()
    assert dist_utils.has_chief_oracle() and dist_utils.is_chief_oracle()
    Distribution.parse("worker", "127.0.0.1:8000", "worker0").apply()
    assert dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


# --- log_event ----------------------------------------------------------------------------------------------


def test_log_event_appends_one_json_line_per_event(tmp_path):
    run = RunPaths(tmp_path / "run")
    log_event(run, "worker0", "start", "0001")
    log_event(run, "worker0", "end", "0001", status="completed")
    lines = (run.directory / "workers" / "worker0.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["event"], e["trial_id"]) for e in events] == [("start", "0001"), ("end", "0001")]
    assert events[1]["status"] == "completed" and events[0]["time"] <= events[1]["time"]


def test_workers_get_a_gpu_each_or_a_share_of_the_one_gpu():
    assert [worker_environment(i, 2, gpus=2) for i in range(2)] == [{"CUDA_VISIBLE_DEVICES": "0"},
                                                                   {"CUDA_VISIBLE_DEVICES": "1"}]
    shared = worker_environment(0, 7, gpus=1)
    assert "CUDA_VISIBLE_DEVICES" not in shared and shared["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert float(shared["XLA_PYTHON_CLIENT_MEM_FRACTION"]) * 7 <= 0.9  # rounded down, never over
    # Three workers on two GPUs: round robin, and the two on GPU 0 share its memory.
    three = [worker_environment(i, 3, gpus=2) for i in range(3)]
    assert [env["CUDA_VISIBLE_DEVICES"] for env in three] == ["0", "1", "0"]
    assert all(float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) * 2 <= 0.9 for env in three)
    assert worker_environment(0, 1, gpus=1) == {} and worker_environment(0, 4, gpus=0) == {}
