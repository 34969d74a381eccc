"""One search across several processes, GPUs or machines, with Keras Tuner's own distributed mode.

A chief process serves the Hyperband oracle over gRPC; workers ask it for trials and write their
results into the shared run folder. `--workers N` starts a chief and N workers on this machine,
restarts a worker that dies (its trial is handed back to it, so it is trained again) and shows one
progress display. Keras Tuner's gRPC channel has no authentication or encryption: keep the oracle
on 127.0.0.1 or a trusted network.

Entry points: `run_local_workers` (`search --workers N`) and `Distribution` (`search --role chief|worker`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tuner.core.errors import ToolkitError
from tuner.core.runs import RunPaths, check_run_name

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding tuner/: each process imports from it
# A chief or worker: this very package's command line, its folder first on the import path (where `python cli.py`
# puts a clone's), not the working directory's; named `xray-tuner` in its messages.
CHILD = [sys.executable, "-c", f"import sys; sys.path[0] = {str(PACKAGE_ROOT)!r}; sys.argv[0] = 'xray-tuner'; "
         "from tuner.cli import run; run()"]
MAX_RESTARTS_PER_WORKER = 3


@dataclass(frozen=True)
class Distribution:
    """This process's part in a distributed search.

    Attributes:
        role: "chief" (serves the oracle) or "worker" (trains trials).
        host: the chief's address.
        port: the oracle's port.
        worker_id: Keras Tuner's id of this process: "chief", or the worker's id (no "chief" in it).
    """

    role: str  # "chief" or "worker"
    host: str
    port: int
    worker_id: str = "chief"

    @classmethod
    def parse(cls, role: str, oracle: str | None, worker_id: str | None) -> Distribution:
        """The distribution the flags `--role`, `--oracle` and `--worker-id` ask for.

        Args:
            role: "chief" or "worker".
            oracle: the chief's address, HOST:PORT (an empty HOST means 127.0.0.1).
            worker_id: a worker's id; None makes one from the host name and the process id.

        Returns:
            The checked distribution.

        Raises:
            ToolkitError: no or a malformed --oracle, or a worker id that is not a plain name or contains "chief".
        """
        if not oracle:
            raise ToolkitError(f"--role {role} needs --oracle HOST:PORT (the chief's address)")
        host, _, port = oracle.rpartition(":")
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise ToolkitError(f"--oracle {oracle!r} is not HOST:PORT: use e.g. 127.0.0.1:8000")
        if role == "worker":
            worker_id = check_run_name(worker_id or f"worker-{socket.gethostname()}-{os.getpid()}")
            if "chief" in worker_id:
                raise ToolkitError(f"--worker-id {worker_id!r} must not contain 'chief' (Keras Tuner reserves it)")
        return cls(role, host or "127.0.0.1", int(port), "chief" if role == "chief" else worker_id)

    def apply(self) -> None:
        """Set the environment variables that Keras Tuner reads its distributed setting from when a tuner is made."""
        os.environ["KERASTUNER_TUNER_ID"] = self.worker_id
        os.environ["KERASTUNER_ORACLE_IP"] = self.host
        os.environ["KERASTUNER_ORACLE_PORT"] = str(self.port)


def log_event(run: RunPaths, worker_id: str, event: str, trial_id: str, **details) -> None:
    """Append one line to run/workers/<id>.jsonl: who started or ended which trial, when.

    Args:
        run: the run folder.
        worker_id: Keras Tuner's id of the process.
        event: "start" or "end".
        trial_id: the trial's id.
        **details: more fields for the line (e.g. the trial's `status`).
    """
    path = run.directory / "workers" / f"{worker_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": time.time(), "event": event, "trial_id": trial_id, **details})
    with open(path, "a", encoding="utf-8") as handle:  # one short O_APPEND write: never interleaved
        handle.write(line + "\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _gpu_count() -> int:
    if not shutil.which("nvidia-smi"):
        return 0
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines()) if listing.returncode == 0 else 0


def worker_environment(index: int, n_workers: int, gpus: int) -> dict[str, str]:
    """The environment variables a local worker gets on top of ours.

    A GPU of its own, round robin, when there are several; when workers share a GPU, a slice of its memory
    each (JAX and TensorFlow would otherwise each take most of it at start, and the next worker would fail).

    Args:
        index: the worker's number, from 0.
        n_workers: how many workers there are.
        gpus: how many GPUs this machine has.

    Returns:
        The variables to set (empty without a GPU).
    """
    if gpus == 0:
        return {}
    env = {"CUDA_VISIBLE_DEVICES": str(index % gpus)} if gpus > 1 else {}
    sharing = math.ceil(n_workers / gpus)
    if sharing > 1:
        env |= {"XLA_PYTHON_CLIENT_MEM_FRACTION": f"{math.floor(900 / sharing) / 1000:.3f}",  # JAX
                "TF_FORCE_GPU_ALLOW_GROWTH": "true"}  # TensorFlow; PyTorch allocates as it goes
    return env


# The chief serves the oracle, then fine-tunes while workers may still be exiting: it takes GPU memory
# as it needs it rather than most of it at start.
CHIEF_ENVIRONMENT = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def search_with_local_workers(settings, argv: list[str], n_workers: int, show_progress: bool) -> RunPaths:
    """`search --workers N`: check the inputs as a one-process search would, then run a chief and `n_workers`
    workers on this machine (`run_local_workers`), all on one run.

    Args:
        settings: the search's `SearchSettings`.
        argv: the `search` command's arguments as typed (with `--workers`): each process gets them, without
            `--workers` and `--overwrite`, with the run's name.
        n_workers: how many workers to start, at least 1.
        show_progress: show the live display.

    Returns:
        The run.

    Raises:
        ToolkitError: fewer than one worker; a results folder that cannot be written, data or weights that
            cannot be read (before any process starts); the chief failed.
    """
    from tuner.core.runs import check_results_writable, clear_run_folder, run_lock
    from tuner.data.dataset import load_dataset
    from tuner.engine.hypermodels import weights_sha256

    if n_workers < 1:
        raise ToolkitError(f"--workers {n_workers} must be at least 1")
    settings.check_environment()
    check_results_writable(settings.results_dir)
    load_dataset(settings.data)
    weights_sha256(settings)
    run = settings.run
    if settings.overwrite:
        with run_lock(run, run.lock):  # not while another search holds the run
            clear_run_folder(run)  # here, once, before any process of the search writes into the run
    child_argv = without_option([a for a in argv if a != "--overwrite"], "--workers")
    child_argv = without_option(child_argv, "--run") + ["--run", run.name]  # all join one run
    code = run_local_workers(child_argv, run, n_workers, show_progress=show_progress)
    if code != 0:
        raise ToolkitError(f"the search's chief process failed (exit code {code}): see {run.directory / 'workers'}; "
                           "run the same command again to resume")
    return run


def without_option(argv: list[str], option: str) -> list[str]:
    """`argv` without `option VALUE` (or `option=VALUE`)."""
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == option:
            skip = True
        elif not argument.startswith(option + "="):
            kept.append(argument)
    return kept


def run_local_workers(argv: list[str], run: RunPaths, n_workers: int, show_progress: bool) -> int:
    """Start a chief and `n_workers` workers on this machine and wait for the search.

    A worker that fails is started again (its unfinished trial is trained again); on any exception, Ctrl-C
    included, every process still running is stopped. Each process logs to run/workers/<id>.log.

    Args:
        argv: the `search` command's arguments for each process, without `--workers` (and with `--run`).
        run: the run folder.
        n_workers: how many workers to start.
        show_progress: show the live display of the workers and trials.

    Returns:
        The chief's exit code.

    Raises:
        ToolkitError: a worker failed again after MAX_RESTARTS_PER_WORKER restarts.
    """
    from tuner.core.live import WorkersDisplay
    from tuner.engine.records import read_trial_records

    port = _free_port()
    oracle = f"127.0.0.1:{port}"
    logs = run.directory / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    gpus = _gpu_count()

    def start(role: str, worker_id: str | None = None, index: int = 0) -> subprocess.Popen:
        command = [*CHILD, *argv, "--quiet", "--role", role, "--oracle", oracle]
        env = dict(os.environ)
        if worker_id:
            command += ["--worker-id", worker_id]
            env.update(worker_environment(index, n_workers, gpus))
        elif gpus:
            env.update(CHIEF_ENVIRONMENT)
        log = open(logs / f"{worker_id or 'chief'}.log", "a", encoding="utf-8")
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    chief = start("chief")
    workers = {f"worker{i}": start("worker", f"worker{i}", i) for i in range(n_workers)}
    restarts = {worker_id: 0 for worker_id in workers}
    try:
        with WorkersDisplay(run, workers, restarts, lambda: [r.to_dict() for r in read_trial_records(run)],
                            enabled=show_progress) as display:
            while chief.poll() is None:
                for index, (worker_id, process) in enumerate(workers.items()):
                    code = process.poll()
                    if code is None or code == 0:
                        continue
                    if restarts[worker_id] >= MAX_RESTARTS_PER_WORKER:
                        raise ToolkitError(f"worker {worker_id} failed {restarts[worker_id] + 1} times: see "
                                         f"{logs / (worker_id + '.log')}; run the same command to resume")
                    # Its unfinished trial is still assigned to its id: the new process trains it again.
                    restarts[worker_id] += 1
                    workers[worker_id] = start("worker", worker_id, index)
                display.refresh()
                time.sleep(1)
            for process in workers.values():
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
            display.refresh()
    except BaseException:
        for process in [chief, *workers.values()]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        raise
    return chief.returncode
