"""The live view of a search: trial, Hyperband bracket and round, epoch, metrics, best so far."""

from __future__ import annotations

import time

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tuner.core.progress import stderr_console


def format_metric(value, digits: int = 3) -> str:
    """A metric with `digits` decimals, or "-" for None."""
    return "-" if value is None else f"{value:.{digits}f}"


class _LiveView:
    """One rich Live region on stderr, redrawn from `_render()`; nothing at all when disabled."""

    live: Live | None = None

    def __enter__(self):
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self.live.update(self._render())
            self.live.__exit__(*exc)

    def refresh(self) -> None:
        if self.live:
            self.live.update(self._render())

    def _render(self):
        raise NotImplementedError


class SearchDisplay(_LiveView):
    """The live view of a one-process search; the search calls it at trial and epoch boundaries.

    Args:
        run_name: the run's name.
        precision_floor: the run's floor, shown in the header.
        enabled: show the view; when False every call does nothing.
    """

    def __init__(self, run_name: str, precision_floor: float, enabled: bool = True) -> None:
        self.run_name = run_name
        self.precision_floor = precision_floor
        self.started = time.monotonic()
        self.trials_done = 0
        self.best: dict | None = None
        self.trial: dict = {}
        self.last_epoch: dict = {}
        self.epochs = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("batches"), TimeElapsedColumn(), console=stderr_console)
        self.epoch_task = self.epochs.add_task("epoch", total=1)
        self.live = Live(self._render(), console=stderr_console, refresh_per_second=4,
                         transient=False) if enabled else None

    def trial_started(self, trial_id: str, bracket, round_, initial_epoch: int, epochs: int) -> None:
        self.trial = {"id": trial_id, "bracket": bracket, "round": round_,
                      "initial_epoch": initial_epoch, "epochs": epochs}
        self.last_epoch = {}
        self.refresh()

    def epoch_started(self, epoch: int, batches: int) -> None:
        self.epochs.reset(self.epoch_task, total=batches,
                          description=f"epoch {epoch + 1}/{self.trial.get('epochs', '?')}")
        self.refresh()

    def batch_done(self) -> None:
        self.epochs.advance(self.epoch_task)

    def epoch_done(self, epoch: int, metrics: dict) -> None:
        self.last_epoch = dict(metrics, epoch=epoch + 1)
        self.refresh()

    def trial_done(self, record: dict) -> None:
        self.trials_done += 1
        if record.get("status") == "completed" and (self.best is None or record["score"] > self.best["score"]):
            self.best = record
        if self.live is not None and not stderr_console.is_terminal:
            # A log, a pipe or a notebook cell shows no live view until the end: one line per trial.
            best = self.best or {}
            if record.get("status") == "completed":
                outcome = (f"recall {format_metric(record.get('recall'))}, specificity "
                           f"{format_metric(record.get('specificity'))} at precision "
                           f"{format_metric(record.get('precision'))}")
            else:
                outcome = f"failed: {record.get('message', '')}"
            stderr_console.print(f"trial {record['trial_id']} done ({self.trials_done} so far, "
                                 f"{_elapsed(self.started)} elapsed): {outcome}; best so far "
                                 f"{best.get('trial_id', '-')}", soft_wrap=True)
        self.refresh()

    def _render(self):
        elapsed = _elapsed(self.started)
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("run", f"{self.run_name} · precision floor {self.precision_floor:.2f} · elapsed {elapsed}")
        if self.trial:
            bracket, round_ = self.trial["bracket"], self.trial["round"]
            where = "" if bracket is None else f" · bracket {bracket} round {round_}"
            table.add_row("trial", f"{self.trial['id']}{where} · "
                                   f"epochs {self.trial['initial_epoch'] + 1}–{self.trial['epochs']} · "
                                   f"{self.trials_done} trial(s) done")
        if self.last_epoch:
            m = self.last_epoch
            reached = "" if m.get("reachable") else " (floor not reached)"
            table.add_row("this trial", f"epoch {m['epoch']}: val recall {format_metric(m.get('recall'))} at "
                                        f"precision {format_metric(m.get('precision'))}, threshold "
                                        f"{format_metric(m.get('threshold'))}, "
                                        f"PR-AUC {format_metric(m.get('pr_auc'))}, "
                                        f"loss {format_metric(m.get('loss'))}{reached}")
        if self.best:
            b = self.best
            table.add_row("best so far", f"trial {b['trial_id']}: score {b['score']:.4f} · recall "
                                         f"{format_metric(b['recall'])} at precision {format_metric(b['precision'])}")
        return Group(table, self.epochs)


class WorkersDisplay(_LiveView):
    """The live view of a search run by several worker processes, read from the run folder."""

    def __init__(self, run, workers: dict, restarts: dict, read_records, enabled: bool = True) -> None:
        """Start the view (shown once the block is entered).

        Args:
            run: the run's paths.
            workers: the worker processes by id (`subprocess.Popen`).
            restarts: how many times each worker was restarted, by id.
            read_records: returns the run's trial records so far, as flat dicts.
            enabled: show the view.
        """
        self.run, self.workers, self.restarts, self.read_records = run, workers, restarts, read_records
        self.started = time.monotonic()
        self.live = Live(self._render(), console=stderr_console, refresh_per_second=2) if enabled else None

    def _render(self):
        records = self.read_records()
        completed = [r for r in records if r["status"] == "completed"]
        best = max(completed, key=lambda r: r["score"], default=None)
        elapsed = _elapsed(self.started)
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("run", f"{self.run.name} · {len(self.workers)} workers · elapsed {elapsed}")
        table.add_row("trials", f"{len(completed)} finished, {len(records) - len(completed)} failed")
        if best:
            table.add_row("best so far", f"trial {best['trial_id']} ({best.get('worker') or '?'}): score "
                                         f"{best['score']:.4f} · recall {format_metric(best['recall'])} at precision "
                                         f"{format_metric(best['precision'])}")
        for worker_id, process in self.workers.items():
            state = "running" if process.poll() is None else f"exited ({process.returncode})"
            restarts = f", restarted {self.restarts[worker_id]}×" if self.restarts[worker_id] else ""
            table.add_row(worker_id, state + restarts)
        return table


def _elapsed(started: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - started))
