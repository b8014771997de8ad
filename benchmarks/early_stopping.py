"""Multi-objective early stopping against Syne Tune's MOASHA and random search, in tuning joules (a script, not a test).

One run compares four arms with the same seeds, side by side:

* ``ecopt``: ECOpt without early stopping: a Sobol start, then batched qLogNEHVI
  rounds (``ecopt.search.propose``, the workflow's round, state rebuilt from the
  records each round), every trial trained to the end;
* ``ecopt_es``: the same with early stopping (``ecopt.early_stopping``): a trial
  judged at rungs 1, 3, 9 epochs against the rung history of EARLIER rounds only
  (``rung_history(records, objectives, rounds_before=round)``), efficiency
  measured before training; early-stopped trials are observed by the optimiser
  at their partial performance (``ecopt.history``'s rule);
* ``moasha``: Syne Tune's ``MOASHA`` (non-dominated sorting priority, grace period
  1, reduction factor 3, one bracket), driven in-process (``suggest``,
  ``on_trial_add``, ``on_trial_result`` at every epoch with the same metrics and
  the same pre-training efficiency, ``on_trial_complete``); its searcher is
  random sampling;
* ``random``: random search (``ecopt.space.sample_space``), every trial trained
  to the end.

Budget: the ``ecopt`` arm runs ``--trials`` trials; its total tuning joules (per
seed) is every other arm's budget for that seed (``--budget`` fixes it instead).
An arm stops proposing once it has spent the budget (the trial in flight
finishes), or after ``--max-trials-factor`` times ``--trials`` trials.

Tuning joules: every metered window of a trial (evaluation and training) plus the
optimiser's own work, metered with ``ecopt.meter.Meter`` (the study-energy spirit
of issue 13): each ECOpt ``propose`` call, and MOASHA's ``suggest`` /
``on_trial_add`` / ``on_trial_complete`` calls. Rung decisions (ECOpt's
``RungMonitor``, MOASHA's ``on_trial_result``) run inside the training window, so
the training joules hold them. Hypervolume: of the fully trained (completed)
trials only, in (performance, log10 samples/J) (``ecopt.pareto.hypervolume``,
BoTorch's ``Hypervolume``), against a reference point fixed per problem and
printed; early-stopped trials never count (not trained to the end).

Problems:

* ``digits``: the default study's CNN on scikit-learn's 8x8 digits, real training
  (``ecopt.trial.run_trial``, in-process), on a reduced space (width 2-32, depth
  1-2, kernel 1/3/5, pooling) with 27 epochs and no patience stop, so that a
  completed trial is a fully trained one; evaluation windows of 1 s.
* ``curves``: a parametric learning-curve problem (:class:`LearningCurveProblem`)
  over (width, depth, learning rate): larger models reach a higher accuracy but
  learn more slowly, so curves cross; joules per epoch follow a cost model scaled
  to the digits CNN on this machine. Its trial joules are SIMULATED (the output
  says so); the optimiser's joules are metered for real.

Goals (issue 14): ECOpt with early stopping reaches 95 % of the no-ES run's final
hypervolume with <= 50 % of that run's joules; at equal joules ECOpt-ES's
hypervolume >= MOASHA's.

Measured here (README, "Early stopping against Syne Tune's MOASHA"; 5 digits seeds on a quiet
machine, 10 curves seeds): on digits early stopping reached 95 % of the no-ES hypervolume with
15.7 % of its joules and ended higher (1.14 against 1.10); at equal joules it beat MOASHA in the
median (digits 1.14 against 0.995, curves 0.888 against 0.868 at MOASHA's total), not in every seed.
On curves it ended below ECOpt without it (0.894 against 0.918): the joules a stopped trial saves
(37 J against 135 J for a completed one) bought more optimiser rounds, ~165-210 J each on a 2-core
machine, 26 % of that arm's joules against 12 %. The meter read samples/J of the same configuration
0.49-2.55 times apart between arms on a quiet machine, 0.19-3.2 on a loaded one.

Usage: python benchmarks/early_stopping.py [--problem {digits,curves,both}] [--seeds N]
       [--curves-seeds N] [--trials N] [--budget J] [--quick] [--figure PNG (default results/benchmarks/early_stopping.png)] [--out JSON]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ARMS = ("ecopt", "ecopt_es", "moasha", "random")
ARM_LABELS = {"ecopt": "ECOpt (no early stopping)", "ecopt_es": "ECOpt + early stopping", "moasha": "Syne Tune MOASHA", "random": "random search"}
TARGET_SHARE = 0.95  # of the no-ES run's final hypervolume
EQUAL_JOULES_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # of the budget: the grid of the equal-joules comparison
EARLY_STOPPING = {"enabled": True, "reduction_factor": 3, "min_resource": 1, "min_points_at_rung": 3}


# --------------------------------------------------------------------------- pure parts (tested)
def hypervolume_by_joules(
    joules: Sequence[float], points: Sequence[Sequence[float] | None], reference: Sequence[float], log_scale: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative tuning joules and hypervolume after each of n events, two arrays of shape (n,).

    ``joules``: each event's joules (a trial's metered windows, or an optimiser
    step); ``points``: the event's (performance, efficiency) in raw units when it
    is a fully trained trial, else None (optimiser steps, early-stopped and failed
    trials add nothing). Both objectives are maximised; ``log_scale`` columns are
    compared in log10, as the optimiser sees them; ``reference`` is in that space.
    """
    flags = list(log_scale)
    values = np.full((len(points), len(flags)), np.nan)
    for row, point in enumerate(points):
        if point is not None and all(v is not None and math.isfinite(v) and (v > 0 or not flag) for v, flag in zip(point, flags, strict=True)):
            values[row] = [math.log10(v) if flag else float(v) for v, flag in zip(point, flags, strict=True)]
    from ecopt.pareto import hypervolume_trace

    hv = hypervolume_trace(values, reference, [False] * len(flags)) if len(values) else np.zeros(0)
    return np.cumsum(np.asarray(joules, dtype=float)), hv


def hypervolume_at(cumulative: np.ndarray, hv: np.ndarray, at: Sequence[float] | float) -> np.ndarray:
    """The hypervolume reached with at most ``at`` joules (a step function of the trace; 0 before the first event)."""
    at = np.atleast_1d(np.asarray(at, dtype=float))
    index = np.searchsorted(np.asarray(cumulative, dtype=float), at, side="right") - 1
    values = np.where(index >= 0, np.asarray(hv, dtype=float)[np.clip(index, 0, None)] if len(hv) else 0.0, 0.0)
    return values


def joules_to_reach(cumulative: np.ndarray, hv: np.ndarray, target: float) -> float | None:
    """Cumulative joules at the first event whose hypervolume is >= ``target``; None when the trace never gets there."""
    reached = np.flatnonzero(np.asarray(hv, dtype=float) >= target)
    return float(np.asarray(cumulative)[reached[0]]) if len(reached) else None


def median_range(values: Sequence[float | None]) -> tuple[float, float, float] | None:
    """(median, min, max) of the finite values; None when there are none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return statistics.median(finite), min(finite), max(finite)


def format_median_range(values: Sequence[float | None], digits: int = 3, scale: float = 1.0, suffix: str = "") -> str:
    """``median [min, max]`` with ``digits`` significant digits; ``n/a`` when no value is finite; '(k of n)' when some are missing."""
    summary = median_range([None if v is None else v * scale for v in values])
    if summary is None:
        return "n/a"
    text = " ".join(f"{v:.{digits}g}" for v in summary[:1]) + f"{suffix} [{summary[1]:.{digits}g}, {summary[2]:.{digits}g}]"
    missing = sum(1 for v in values if v is None or not math.isfinite(v))
    return text + (f" ({len(values) - missing} of {len(values)})" if missing else "")


@dataclass(frozen=True)
class LearningCurveProblem:
    """A parametric learning-curve problem over (width, depth, learning_rate), with a cost model for joules.

    Validation accuracy after t epochs: ``0.1 + (a - 0.1) * (1 - exp(-t / tau))`` plus
    Gaussian noise (sd ``curve_noise``, fixed per trial seed), where the asymptote
    ``a = 0.75 + 0.23 (1 - exp(-3 c)) - 0.12 log10(lr / 3e-3)**2`` (clipped to >= 0.1)
    grows with capacity ``c = log2(width) / 6 + 0.15 (depth - 1)`` and falls with a
    learning rate off 3e-3, and the time constant ``tau = 1.5 sqrt(3e-3 / lr) (1 + c)``
    epochs grows with capacity: larger models learn more slowly, so curves cross,
    the case where stopping at a rung can be wrong. Test performance: the
    noise-free curve at the last trained epoch. Efficiency (samples/J, set by the
    architecture alone): ``1 / (joules_per_sample + joules_per_unit * width**2 * depth)``.
    Joules per epoch: ``train_samples * train_cost_factor / efficiency + epoch_overhead_joules``;
    one evaluation window: ``eval_window_joules``. Defaults are scaled to the digits
    CNN measured on this machine (a 1 s evaluation window read ~28 J; 27 epochs of
    width 4 read ~60 J, of width 64 x depth 3 ~510 J).
    """

    max_epochs: int = 27
    joules_per_sample: float = 1e-4
    joules_per_unit: float = 2.5e-7
    train_samples: int = 10_000
    train_cost_factor: float = 3.0
    epoch_overhead_joules: float = 0.5
    eval_window_joules: float = 28.0
    curve_noise: float = 0.01

    space_section = {
        "width": {"type": "range", "bounds": [2, 64], "value_type": "int", "log_scale": True},
        "depth": {"type": "range", "bounds": [1, 3], "value_type": "int"},
        "learning_rate": {"type": "range", "bounds": [1e-4, 1e-1], "log_scale": True},
    }

    @staticmethod
    def capacity(params: Mapping[str, Any]) -> float:
        return math.log2(float(params["width"])) / 6 + 0.15 * (int(params["depth"]) - 1)

    def asymptote(self, params: Mapping[str, Any]) -> float:
        """The accuracy the configuration reaches with unlimited epochs."""
        capacity = self.capacity(params)
        off = math.log10(float(params["learning_rate"]) / 3e-3)
        return max(0.1, 0.75 + 0.23 * (1 - math.exp(-3 * capacity)) - 0.12 * off**2)

    def time_constant(self, params: Mapping[str, Any]) -> float:
        """Epochs to reach 63 % of the way from chance (0.1) to the asymptote."""
        return 1.5 * math.sqrt(3e-3 / float(params["learning_rate"])) * (1 + self.capacity(params))

    def accuracy(self, params: Mapping[str, Any], epoch: float) -> float:
        """Noise-free accuracy after ``epoch`` epochs."""
        final = self.asymptote(params)
        return 0.1 + (final - 0.1) * (1 - math.exp(-float(epoch) / self.time_constant(params)))

    def efficiency(self, params: Mapping[str, Any]) -> float:
        """Samples per joule of inference (independent of the weights, as the CNN's)."""
        units = float(params["width"]) ** 2 * int(params["depth"])
        return 1.0 / (self.joules_per_sample + self.joules_per_unit * units)

    def epoch_joules(self, params: Mapping[str, Any]) -> float:
        """Simulated joules of one training epoch."""
        return self.train_samples * self.train_cost_factor / self.efficiency(params) + self.epoch_overhead_joules

    def curve(self, params: Mapping[str, Any], seed: int) -> list[float]:
        """Validation accuracy after epochs 1..max_epochs (noisy, reproducible for (params, seed))."""
        digest = hashlib.sha256(json.dumps([sorted((k, str(v)) for k, v in params.items()), seed]).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        noise = rng.normal(0.0, self.curve_noise, self.max_epochs)
        return [min(1.0, max(0.0, self.accuracy(params, epoch) + noise[epoch - 1])) for epoch in range(1, self.max_epochs + 1)]

    def run(self, params: Mapping[str, Any], seed: int, stop: Callable[[int, float], bool]) -> dict[str, Any]:
        """One simulated trial: efficiency first, then epochs until ``stop(epoch, validation)`` says so or the last epoch.

        Returns a trial-record-like dict: status (completed / early_stopped),
        performance (test: noise-free accuracy at the last epoch trained),
        samples_per_joule, eval_joules, train_joules, learning_curve
        ([{"epoch", "performance", "train_joules"}]), stopped_at_rung.
        """
        efficiency, per_epoch = self.efficiency(params), self.epoch_joules(params)
        curve, entries = self.curve(params, seed), []
        stopped_at = None
        for epoch in range(1, self.max_epochs + 1):
            entries.append({"epoch": epoch, "performance": curve[epoch - 1], "train_joules": epoch * per_epoch})
            if epoch < self.max_epochs and stop(epoch, curve[epoch - 1]):
                stopped_at = epoch
                break
        trained = stopped_at or self.max_epochs
        return {
            "params": dict(params),
            "status": "early_stopped" if stopped_at else "completed",
            "performance": self.accuracy(params, trained),
            "samples_per_joule": efficiency,
            "eval_joules": self.eval_window_joules,
            "train_joules": trained * per_epoch,
            "learning_curve": entries,
            "stopped_at_rung": stopped_at,
        }


# --------------------------------------------------------------------------- problems
@dataclass
class Problem:
    """What an arm needs from a problem: its space, objectives, reference point and a trial runner."""

    name: str
    space_section: dict[str, Any]
    objectives_section: dict[str, Any]
    reference: tuple[float, float]  # (performance, log10 samples/J)
    max_resource: int
    simulated: bool

    @property
    def space(self) -> dict[str, Any]:
        from ecopt.space import parse_space

        return parse_space(self.space_section)

    @property
    def objectives(self) -> list[Any]:
        from ecopt.objectives import parse_objectives

        return parse_objectives(self.objectives_section)


OBJECTIVES = {"performance": {"metric": "performance", "threshold": 0.5}, "efficiency": {"metric": "samples_per_joule", "log_scale": True}}


def digits_config(max_epochs: int, early_stopping: bool) -> dict[str, Any]:
    """The default study (config/config.yaml), reduced: the reduced space, ``max_epochs`` epochs, no patience stop, 1 s evaluation windows."""
    return {
        "study": "digits-cnn-early-stopping-benchmark",
        "seed": 0,
        "adapter": "ecopt.adapters.cnn:CNNClassifier",
        # patience = max_epochs: the validation-loss stop never ends a trial early, so "completed" means fully trained.
        "adapter_options": {
            "performance_metric": "accuracy",
            "learning_rate": 0.001,
            "batch_size": 64,
            "max_epochs": max_epochs,
            "patience": max_epochs,
            "device": "cpu",
        },
        "data": {"dataset": "digits", "seed": 0},
        "space": DIGITS_SPACE,
        "objectives": OBJECTIVES,
        "meter": METER,
        "trial": {"skip_train": False},
        "early_stopping": {**EARLY_STOPPING, "enabled": early_stopping},
    }


# The default study's meter with 1 s evaluation windows (3 s there): one digits seed (4 arms, 16 trials in the no-ES run)
# took 10-16 minutes on this shared 2-core machine. CodeCarbon's process tracking: on a machine shared with other
# work, machine tracking would count that work in every window.
METER = {"tracking_mode": "process", "country_iso_code": "USA", "min_window_seconds": 1.0}


DIGITS_SPACE = {
    "width": {"type": "range", "bounds": [2, 32], "value_type": "int", "log_scale": True},
    "depth": {"type": "range", "bounds": [1, 2], "value_type": "int"},
    "kernel_size": {"type": "choice", "values": [1, 3, 5], "value_type": "int"},
    "pooling": {"type": "choice", "values": [False, True], "value_type": "bool"},
    "stride": {"type": "fixed", "value": 1},
    "padding": {"type": "fixed", "value": "same"},
}


class SchedulerMonitor:
    """A rung monitor (``report(resource, performance) -> stop``) that asks a Syne Tune scheduler at every epoch."""

    def __init__(self, scheduler: Any, trial: Any, efficiency: float, max_resource: int) -> None:
        self.scheduler, self.trial, self.efficiency, self.max_resource = scheduler, trial, efficiency, max_resource
        self.decision: Any = None

    def report(self, resource: int, performance: float) -> bool:
        from syne_tune.optimizer.scheduler import SchedulerDecision

        result = {"epoch": int(resource), "performance": float(performance), "samples_per_joule": self.efficiency}
        action = self.scheduler.on_trial_result(self.trial, result)
        # MOASHA answers STOP at max_t too: that is the end of training, not an early stop.
        stop = action == SchedulerDecision.STOP and resource < self.max_resource
        if stop:
            self.decision = {"rung": int(resource), "reason": f"MOASHA stopped the trial at epoch {resource}"}
        return stop


class DigitsRunner:
    """Real trials of the digits CNN, in-process, with one meter for the whole run."""

    def __init__(self, max_epochs: int, meter: Any) -> None:
        self.max_epochs, self.meter = max_epochs, meter
        self.configs = {flag: digits_config(max_epochs, flag) for flag in (False, True)}

    def ecopt_trial(self, params: Mapping[str, Any], early_stopping: bool, history: Any) -> dict[str, Any]:
        from ecopt.trial import run_trial

        record = run_trial(self.configs[early_stopping], params, meter=self.meter, rung_history=history)
        return record.to_dict()

    def scheduled_trial(self, params: Mapping[str, Any], monitor_factory: Callable[[float], SchedulerMonitor] | None) -> dict[str, Any]:
        """``run_trial``'s order for another scheduler: evaluation window first, metered training with it as rung monitor, unmetered final evaluation.

        ``monitor_factory(samples_per_joule)`` builds the monitor once the efficiency
        is known (None: full training, no monitor).
        """
        from ecopt.settings import instantiate_adapter, study_settings
        from ecopt.trial import TRIAL_SECTIONS, resolve_params

        study = study_settings(self.configs[True], TRIAL_SECTIONS)
        model = instantiate_adapter(study)
        resolved, _ = resolve_params(model.hyperparameters, study.space, params)
        model.set_hyperparameters(resolved)
        model.define()
        window = self.meter.measure_window(model.evaluate)
        samples = int(sum(int(count) for _, count in window.results))
        efficiency = samples / window.record.joules
        monitor = monitor_factory(efficiency) if monitor_factory else None
        model.rung_monitor = monitor
        train_energy = self.meter.measure(model.train)[1]
        performance = float(model.evaluate()[0])
        stopped = monitor is not None and monitor.decision is not None
        return {
            "params": resolved,
            "status": "early_stopped" if stopped else "completed",
            "performance": performance,
            "samples_per_joule": efficiency,
            "eval_joules": window.record.joules,
            "train_joules": train_energy.joules,
            "learning_curve": [dict(point) for point in getattr(model, "learning_curve", None) or []],
            "stopped_at_rung": getattr(model, "stopped_at_resource", None) if stopped else None,
        }


class CurvesRunner:
    """Simulated trials of :class:`LearningCurveProblem`; only the rung decisions' work is metered (for real)."""

    def __init__(self, problem: LearningCurveProblem, meter: Any) -> None:
        self.problem, self.meter = problem, meter

    def trial(self, params: Mapping[str, Any], seed: int, stop: Callable[[int, float], bool] | None) -> tuple[dict[str, Any], float]:
        """The record and the real joules of the stopping decisions (0 without any)."""
        if stop is None:
            return self.problem.run(params, seed, lambda epoch, value: False), 0.0
        record, energy = self.meter.measure(lambda: self.problem.run(params, seed, stop), check=False)
        return record, energy.joules


# --------------------------------------------------------------------------- arms
@dataclass
class ArmRun:
    """One arm on one seed: its events in order (joules, point or None, what it was)."""

    arm: str
    seed: int
    events: list[dict[str, Any]]
    seconds: float = 0.0

    def add(self, kind: str, joules: float, record: Mapping[str, Any] | None = None, **extra: Any) -> None:
        point = None
        if record is not None and record.get("status") == "completed":
            point = [record.get("performance"), record.get("samples_per_joule")]
        event = {"kind": kind, "joules": float(joules), "point": point, **extra}
        if record is not None:
            event.update(
                status=record.get("status"),
                performance=record.get("performance"),
                samples_per_joule=record.get("samples_per_joule"),
                stopped_at_rung=record.get("stopped_at_rung"),
                params=record.get("params"),
            )
        self.events.append(event)

    @property
    def total_joules(self) -> float:
        return float(sum(e["joules"] for e in self.events))

    def trials(self, status: str | None = None) -> int:
        return sum(1 for e in self.events if e["kind"] == "trial" and (status is None or e.get("status") == status))


def trial_joules(record: Mapping[str, Any]) -> float:
    """A trial's metered joules: its evaluation and training windows (a window that did not happen counts 0)."""
    return float(record.get("eval_joules") or 0.0) + float(record.get("train_joules") or 0.0)


def run_ecopt_arm(
    problem: Problem, runner: Any, seed: int, early_stopping: bool, budget: float | None, max_trials: int, search: Mapping[str, Any], meter: Any
) -> ArmRun:
    """ECOpt's rounds in-process: ``propose`` (metered), then the round's trials, history = every earlier record."""
    from ecopt.search import propose
    from ecopt.settings import validate_section

    settings = validate_section("search", dict(search))
    space, objectives = problem.space, problem.objectives
    run, records, round_index = ArmRun("ecopt_es" if early_stopping else "ecopt", seed, []), [], 0
    while run.trials() < max_trials and (budget is None or run.total_joules < budget):
        proposal, energy = meter.measure(lambda r=round_index: propose(r, records, space, objectives, settings, seed=seed, keep_state=False), check=False)
        run.add("optimiser", energy.joules, round=round_index, generator=proposal.generator)
        history = None
        if early_stopping:
            from ecopt.early_stopping import rung_history

            history = rung_history(records, objectives, rounds_before=round_index)
        for index, params in enumerate(proposal.proposals):
            if run.trials() >= max_trials or (budget is not None and run.total_joules >= budget):
                break
            if isinstance(runner, CurvesRunner):
                stop = None
                if early_stopping:
                    from ecopt.early_stopping import RungMonitor

                    monitor = RungMonitor(history, EARLY_STOPPING, {"samples_per_joule": runner.problem.efficiency(params)}, problem.max_resource)
                    stop = monitor.report
                record, decision_joules = runner.trial(params, seed * 100_003 + len(records), stop)
            else:
                record, decision_joules = runner.ecopt_trial(params, early_stopping, history), 0.0
            record = {**record, "round": round_index, "index": index}
            records.append(record)
            run.add("trial", trial_joules(record) + decision_joules, record, round=round_index)
        round_index += 1
    return run


def syne_tune_space(section: Mapping[str, Any]) -> dict[str, Any]:
    """An ecopt space section as a Syne Tune config space (ranges -> (log)randint / (log)uniform, choices -> choice)."""
    from syne_tune.config_space import choice, lograndint, loguniform, randint, uniform

    space: dict[str, Any] = {}
    for name, entry in section.items():
        if entry["type"] == "fixed":
            space[name] = entry["value"]
        elif entry["type"] == "choice":
            space[name] = choice(list(entry["values"]))
        else:
            low, high = entry["bounds"]
            integer, log = entry.get("value_type") == "int", entry.get("log_scale", False)
            space[name] = (lograndint if log else randint)(int(low), int(high)) if integer else (loguniform if log else uniform)(float(low), float(high))
    return space


def run_scheduled_arm(problem: Problem, runner: Any, seed: int, moasha: bool, budget: float | None, max_trials: int, meter: Any) -> ArmRun:
    """MOASHA driven in-process (``moasha=True``), or random search with full training."""
    run = ArmRun("moasha" if moasha else "random", seed, [])
    scheduler = None
    if moasha:
        from syne_tune.backend.trial_status import Trial
        from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

        np.random.seed(seed)  # MOASHA samples configurations and brackets from numpy's global generator
        scheduler = MOASHA(
            syne_tune_space(problem.space_section),
            metrics=["performance", "samples_per_joule"],
            do_minimize=False,
            time_attr="epoch",
            max_t=problem.max_resource,
            grace_period=EARLY_STOPPING["min_resource"],
            reduction_factor=EARLY_STOPPING["reduction_factor"],
            random_seed=seed,
        )
        draws: list[dict[str, Any]] = []
    else:
        from ecopt.space import sample_space

        draws = sample_space(problem.space, max_trials, seed)
    while run.trials() < max_trials and (budget is None or run.total_joules < budget):
        trial_id = run.trials()
        trial = None
        if scheduler is not None:

            def suggest(trial_id: int = trial_id) -> Any:
                suggestion = scheduler.suggest()
                trial = Trial(trial_id=trial_id, config=suggestion.config, creation_time=datetime.now(timezone.utc))
                scheduler.on_trial_add(trial)
                return trial

            trial, energy = meter.measure(suggest, check=False)
            run.add("optimiser", energy.joules)
            params = {name: trial.config[name] for name in problem.space_section}
        else:
            params = draws[trial_id]
        if isinstance(runner, CurvesRunner):
            stop = None
            if trial is not None:
                stop = SchedulerMonitor(scheduler, trial, runner.problem.efficiency(params), problem.max_resource).report
            record, decision_joules = runner.trial(params, seed * 100_003 + trial_id, stop)
        else:
            factory = (lambda efficiency, trial=trial: SchedulerMonitor(scheduler, trial, efficiency, problem.max_resource)) if trial is not None else None
            record, decision_joules = runner.scheduled_trial(params, factory), 0.0
        if trial is not None and record["status"] == "completed":
            last = record["learning_curve"][-1] if record.get("learning_curve") else {"epoch": problem.max_resource, "performance": record["performance"]}
            result = {
                "epoch": int(last.get("epoch") or problem.max_resource),
                "performance": float(last["performance"]),
                "samples_per_joule": record["samples_per_joule"],
            }
            decision_joules += meter.measure(lambda t=trial, r=result: scheduler.on_trial_complete(t, r), check=False)[1].joules
        run.add("trial", trial_joules(record) + decision_joules, record)
    return run


# --------------------------------------------------------------------------- one problem, every arm and seed
def run_problem(
    problem: Problem,
    runner_factory: Callable[[], Any],
    seeds: Sequence[int],
    args: argparse.Namespace,
    meter: Any,
    on_seed: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every arm on every seed; returns the raw runs. ``on_seed(result so far)`` after each seed (the raw JSON is written there)."""
    search = {"initial_trials": args.initial_trials, "batch_size": args.batch_size}
    runs: dict[str, list[ArmRun]] = {arm: [] for arm in ARMS}
    runner = runner_factory()
    max_trials = args.trials * args.max_trials_factor
    # Unmetered warm-up: importing Ax and BoTorch and the first client are the process's cost, not a tuning round's.
    from ecopt.search import propose
    from ecopt.settings import validate_section

    propose(0, [], problem.space, problem.objectives, validate_section("search", search), seed=0, keep_state=False)
    for seed in seeds:
        started = time.perf_counter()
        baseline = run_ecopt_arm(problem, runner, seed, False, args.budget, args.trials, search, meter)
        baseline.seconds = time.perf_counter() - started
        runs["ecopt"].append(baseline)
        budget = args.budget if args.budget is not None else baseline.total_joules
        print(
            f"  seed {seed}: {ARM_LABELS['ecopt']}: {baseline.total_joules:.0f} J in {baseline.seconds:.0f} s; budget of the other arms {budget:.0f} J",
            flush=True,
        )
        for arm in ARMS[1:]:
            started = time.perf_counter()
            if arm == "ecopt_es":
                run = run_ecopt_arm(problem, runner, seed, True, budget, max_trials, search, meter)
            else:
                run = run_scheduled_arm(problem, runner, seed, arm == "moasha", budget, max_trials, meter)
            run.seconds = time.perf_counter() - started
            runs[arm].append(run)
            print(
                f"  seed {seed}: {ARM_LABELS[arm]}: {run.total_joules:.0f} J in {run.seconds:.0f} s, "
                f"{run.trials()} trials ({run.trials('early_stopped')} stopped early)",
                flush=True,
            )
        if on_seed is not None:
            on_seed({"runs": runs})
    return {"runs": runs}


def traces(problem: Problem, runs: Sequence[ArmRun]) -> list[tuple[np.ndarray, np.ndarray]]:
    log_scale = [o.log_scale for o in problem.objectives]
    return [hypervolume_by_joules([e["joules"] for e in run.events], [e["point"] for e in run.events], problem.reference, log_scale) for run in runs]


def report(problem: Problem, result: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The problem's table (lines) and its figures (for the JSON)."""
    runs: dict[str, list[ArmRun]] = result["runs"]
    traced = {arm: traces(problem, runs[arm]) for arm in ARMS}
    seeds = len(runs["ecopt"])
    lines, figures = [], {}
    lines.append(
        f"{problem.name}: {seeds} seeds; reference point (performance {problem.reference[0]:g}, log10 samples/J {problem.reference[1]:g}); "
        + ("trial joules SIMULATED by a cost model, optimiser joules metered" if problem.simulated else "every joule metered (CodeCarbon on this machine)")
    )
    lines.append(f"  {'arm':28s} {'final HV':26s} {'tuning joules':28s} {'trials (stopped early)':22s} {'optimiser J share':18s}")
    for arm in ARMS:
        finals = [float(hv[-1]) if len(hv) else 0.0 for _, hv in traced[arm]]
        totals = [run.total_joules for run in runs[arm]]
        trials = [run.trials() for run in runs[arm]]
        stopped = [run.trials("early_stopped") for run in runs[arm]]
        optimiser = [sum(e["joules"] for e in run.events if e["kind"] == "optimiser") / max(run.total_joules, 1e-12) for run in runs[arm]]
        figures[arm] = {"final_hv": finals, "total_joules": totals, "trials": trials, "early_stopped": stopped, "optimiser_share": optimiser}
        lines.append(
            f"  {ARM_LABELS[arm]:28s} {format_median_range(finals):26s} {format_median_range(totals, 4):28s} "
            f"{statistics.median(trials):5.0f} ({statistics.median(stopped):.0f}){'':12s} {format_median_range(optimiser, 2, 100, ' %')}"
        )
    # Goal 1: joules for ECOpt-ES to reach 95 % of the no-ES run's final HV, as a share of the no-ES run's joules.
    shares = []
    for (_, base_hv), base_run, (es_cumulative, es_hv) in zip(traced["ecopt"], runs["ecopt"], traced["ecopt_es"], strict=True):
        target = TARGET_SHARE * float(base_hv[-1])
        needed = joules_to_reach(es_cumulative, es_hv, target) if target > 0 else None
        shares.append(None if needed is None else needed / base_run.total_joules)
    base_needed = [
        joules_to_reach(c, hv, TARGET_SHARE * float(hv[-1])) / run.total_joules
        for (c, hv), run in zip(traced["ecopt"], runs["ecopt"], strict=True)
        if hv[-1] > 0
    ]
    figures["es_joules_to_95pct_share"] = shares
    figures["no_es_joules_to_95pct_share"] = base_needed
    lines.append(
        f"  joules for ECOpt+ES to reach 95 % of the no-ES run's final HV, share of the no-ES run's joules: {format_median_range(shares, 3, 100, ' %')}"
        f" (goal <= 50 %; the no-ES run itself needs {format_median_range(base_needed, 3, 100, ' %')})"
    )
    # Goal 2: HV at equal joules, ECOpt-ES vs MOASHA: at MOASHA's total, and on a grid of the budget.
    at_moasha = [
        (float(hypervolume_at(es_c, es_hv, run.total_joules)[0]), float(hv[-1]) if len(hv) else 0.0)
        for (es_c, es_hv), (_, hv), run in zip(traced["ecopt_es"], traced["moasha"], runs["moasha"], strict=True)
    ]
    figures["hv_at_moasha_total"] = {"ecopt_es": [a for a, _ in at_moasha], "moasha": [b for _, b in at_moasha]}
    wins = sum(1 for a, b in at_moasha if a >= b)
    lines.append(
        f"  HV at MOASHA's total joules: ECOpt+ES {format_median_range([a for a, _ in at_moasha])}, MOASHA {format_median_range([b for _, b in at_moasha])}; "
        f"ECOpt+ES >= MOASHA in {wins} of {len(at_moasha)} seeds (goal: ECOpt >= MOASHA)"
    )
    budgets = [run.total_joules for run in runs["ecopt"]]
    grid_rows = {}
    header = "  HV at equal joules (share of the budget = the no-ES run's joules):"
    lines.append(header + "".join(f" {fraction:>6.0%}{'':18s}" for fraction in EQUAL_JOULES_FRACTIONS))
    for arm in ARMS:
        cells = []
        grid_rows[arm] = {}
        for fraction in EQUAL_JOULES_FRACTIONS:
            values = [float(hypervolume_at(c, hv, fraction * budget)[0]) for (c, hv), budget in zip(traced[arm], budgets, strict=True)]
            grid_rows[arm][str(fraction)] = values
            cells.append(f"{format_median_range(values):24s}")
        lines.append(f"    {ARM_LABELS[arm]:64s} " + " ".join(cells))
    grid_wins = [sum(1 for a, b in zip(grid_rows["ecopt_es"][str(f)], grid_rows["moasha"][str(f)], strict=True) if a >= b) for f in EQUAL_JOULES_FRACTIONS]
    lines.append(f"    ECOpt+ES >= MOASHA (seeds, per column): {' '.join(f'{w}/{seeds}' for w in grid_wins)}")
    figures["hv_at_budget_share"] = grid_rows
    return lines, figures


def plot(panels: Sequence[tuple[Problem, dict[str, Any]]], path: str) -> None:
    """HV against cumulative tuning joules: median line and [min, max] band per arm, one panel per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    colours = {"ecopt": "tab:blue", "ecopt_es": "tab:green", "moasha": "tab:orange", "random": "tab:gray"}
    for axis, (problem, result) in zip(axes[0], panels, strict=True):
        runs = result["runs"]
        top = max(run.total_joules for arm in ARMS for run in runs[arm])
        grid = np.linspace(0, top, 300)
        for arm in ARMS:
            curves = np.array([hypervolume_at(c, hv, grid) for c, hv in traces(problem, runs[arm])])
            axis.plot(grid, np.median(curves, axis=0), color=colours[arm], label=ARM_LABELS[arm])
            axis.fill_between(grid, curves.min(axis=0), curves.max(axis=0), color=colours[arm], alpha=0.15, linewidth=0)
        axis.set_xlabel("cumulative tuning joules" + (" (trials simulated)" if problem.simulated else ""))
        axis.set_ylabel("hypervolume (accuracy x log10 samples/J)")
        axis.set_title(f"{problem.name}: median and range over {len(runs['ecopt'])} seeds")
        axis.grid(alpha=0.3)
    axes[0][0].legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def raw_entry(problem: Problem, result: dict[str, Any]) -> dict[str, Any]:
    """A problem's raw traces as the ``--out`` JSON keeps them (``load_panels`` reads them back)."""
    return {
        "reference": problem.reference,
        "simulated": problem.simulated,
        "max_resource": problem.max_resource,
        "runs": {arm: [{"seed": r.seed, "seconds": r.seconds, "events": r.events} for r in result["runs"][arm]] for arm in ARMS},
    }


def load_panels(paths: Sequence[str]) -> list[tuple[Problem, dict[str, Any]]]:
    """The problems and runs of earlier runs' ``--out`` files, as ``run_problem`` returned them; runs of one problem in several files are merged.

    Only the seeds every arm finished count (a killed run's last seed may lack arms).
    """
    merged: dict[str, tuple[Problem, dict[str, list[ArmRun]]]] = {}
    for path in paths:
        document = json.loads(Path(path).read_text())
        for name, entry in document["problems"].items():
            space = DIGITS_SPACE if not entry["simulated"] else dict(LearningCurveProblem.space_section)
            problem = Problem(
                name,
                space,
                OBJECTIVES,
                tuple(entry["reference"]),
                int(entry.get("max_resource", document["arguments"]["max_epochs"])),
                simulated=bool(entry["simulated"]),
            )
            _, runs = merged.setdefault(name, (problem, {arm: [] for arm in ARMS}))
            for arm in ARMS:
                runs[arm].extend(ArmRun(arm, run["seed"], run["events"], run["seconds"]) for run in entry["runs"][arm])
    panels = []
    for problem, runs in merged.values():
        complete = set.intersection(*({run.seed for run in runs[arm]} for arm in ARMS))
        panels.append((problem, {"runs": {arm: sorted((r for r in runs[arm] if r.seed in complete), key=lambda r: r.seed) for arm in ARMS}}))
    return panels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", choices=("digits", "curves", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the digits problem (FIRST..FIRST+N-1)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (to run seeds in separate processes; --from-json merges them)")
    parser.add_argument("--curves-seeds", type=int, default=5, help="seeds of the curves problem")
    parser.add_argument("--trials", type=int, default=16, help="trials of the no-ES ECOpt run (its joules are the other arms' budget)")
    parser.add_argument("--curves-trials", type=int, default=20, help="--trials for the curves problem")
    parser.add_argument("--budget", type=float, default=None, help="a fixed joule budget for every arm instead")
    parser.add_argument("--max-trials-factor", type=int, default=3, help="the other arms stop after this many times --trials trials")
    parser.add_argument("--initial-trials", type=int, default=8, help="ECOpt's Sobol start")
    parser.add_argument("--batch-size", type=int, default=4, help="ECOpt's candidates per model-based round")
    parser.add_argument("--max-epochs", type=int, default=27)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run (< 2 minutes): 1 digits seed of 4 trials of 9 epochs, 1 curves seed of 6 trials, early stopping at eta 9 "
        "from 1 earlier point; exits 1 if no ECOpt trial stopped early",
    )
    # Not the README's committed figure: a smoke run must not overwrite it (the README's --from-json command names it).
    parser.add_argument("--figure", default="results/benchmarks/early_stopping.png")
    parser.add_argument("--out", default="results/benchmarks/early_stopping.json")
    parser.add_argument("--from-json", nargs="+", default=None, metavar="JSON", help="no run: tables and one figure from earlier runs' --out files")
    args = parser.parse_args(argv)
    if args.from_json:
        missing = [path for path in args.from_json if not Path(path).is_file()]
        if missing:
            # results/ is never committed: in a fresh clone the traces exist only after the runs the README lists first.
            print(
                f"benchmarks/early_stopping.py --from-json: no such file {', '.join(missing)}; the traces are the --out files "
                "of earlier runs of this benchmark (see the README's commands above the --from-json one)",
                file=sys.stderr,
            )
            return 2
        panels = load_panels(args.from_json)
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        print("\n".join(line for problem, result in panels for line in report(problem, result)[0] + [""]), flush=True)
        plot(panels, args.figure)
        print(f"figure: {args.figure}", flush=True)
        return 0
    try:
        import syne_tune  # noqa: F401
    except ImportError:
        print("benchmarks/early_stopping.py needs Syne Tune for its MOASHA arm: pip install 'ecopt[benchmark]' (or: pip install syne-tune)", file=sys.stderr)
        return 2
    if args.quick:
        args.seeds, args.curves_seeds, args.trials, args.curves_trials = 1, 1, 4, 6
        args.max_epochs, args.initial_trials, args.batch_size, args.max_trials_factor = 9, 3, 1, 2
        # With 3 earlier points needed at a rung, the smoke run's few trials were never judged (0 stopped early):
        # a smoke run must exercise early stopping, and the check after the runs says whether it did.
        EARLY_STOPPING.update(min_points_at_rung=1, reduction_factor=9)  # one rung (epoch 1); only its front 0 continues
    from ecopt.meter import Meter

    meter = Meter(METER)
    meter.warm_up()
    started = time.perf_counter()
    panels: list[tuple[Problem, dict[str, Any]]] = []
    document: dict[str, Any] = {"arguments": vars(args), "problems": {}}
    tables: list[str] = []
    current: list[Problem] = []

    def checkpoint(result: dict[str, Any]) -> None:  # the raw traces so far, so that a killed run keeps its finished seeds
        for problem, done in [*panels, (current[-1], result)]:
            document["problems"][problem.name] = raw_entry(problem, done)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(document, indent=1, default=float))

    if args.problem in ("digits", "both"):
        problem = Problem("digits CNN", DIGITS_SPACE, OBJECTIVES, (0.5, 2.0), args.max_epochs, simulated=False)
        current.append(problem)
        print(f"digits CNN, real training: {args.seeds} seeds, {args.trials} trials of {args.max_epochs} epochs in the no-ES run", flush=True)
        result = run_problem(
            problem, lambda: DigitsRunner(args.max_epochs, meter), range(args.first_seed, args.first_seed + args.seeds), args, meter, checkpoint
        )
        panels.append((problem, result))
    if args.problem in ("curves", "both"):
        curves = LearningCurveProblem(max_epochs=args.max_epochs)
        problem = Problem("learning curves", dict(LearningCurveProblem.space_section), OBJECTIVES, (0.5, 2.0), args.max_epochs, simulated=True)
        curves_args = argparse.Namespace(**{**vars(args), "trials": args.curves_trials})
        current.append(problem)
        print(f"learning curves (trial joules SIMULATED): {args.curves_seeds} seeds, {args.curves_trials} trials in the no-ES run", flush=True)
        result = run_problem(
            problem, lambda: CurvesRunner(curves, meter), range(args.first_seed, args.first_seed + args.curves_seeds), curves_args, meter, checkpoint
        )
        panels.append((problem, result))
    for problem, result in panels:
        lines, figures = report(problem, result)
        tables.extend(lines + [""])
        document["problems"][problem.name] = {**raw_entry(problem, result), "figures": figures}
    print("\n" + "\n".join(tables), flush=True)
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    plot(panels, args.figure)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    document["table"] = tables
    document["seconds"] = time.perf_counter() - started
    Path(args.out).write_text(json.dumps(document, indent=1, default=float))
    print(f"figure: {args.figure}; raw traces: {args.out}; {time.perf_counter() - started:.0f} s", flush=True)
    if args.quick:
        stopped = sum(run.trials("early_stopped") for _, result in panels for run in result["runs"]["ecopt_es"])
        print(f"quick check: {stopped} ECOpt trials stopped early ({'ok' if stopped else 'FAILED: early stopping was not exercised'})", flush=True)
        return 0 if stopped else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
