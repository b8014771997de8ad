"""``ecopt.optimize``: the optimiser on a plain function (params -> metrics), without Snakemake.

The module is not called ``ecopt/optimize.py``: importing a submodule sets the
package attribute of its name, so ``ecopt.optimize`` would become the module
(not the function) as soon as anything imported it.

It runs the workflow's rounds in one process: each round calls
``ecopt.search.propose`` with the trials so far, which rebuilds the optimiser
from them exactly as a workflow round does in a fresh process, so a study and
a function optimised here see the same candidates for the same history. It is
how the optimiser is benchmarked (``benchmarks/mobo.py``).

Trials get their status from the same outcome rules as the workflow
(``ecopt.history.trial_outcome``): a result lacking an objective's metric (or
with a value that is not a finite number) is a failed trial whose error names
the metric; an exception that means out of memory (``ecopt.records.is_out_of_memory``:
``MemoryError``, torch's ``OutOfMemoryError``, an allocator's message, the same rule
as the workflow's trials) is ``out_of_memory``, observed as the worst value in
every objective; any other exception is a failed trial with its message. A
trial never stops the search.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecopt.history import COMPLETED, FAILED, OUT_OF_MEMORY, trial_outcome
from ecopt.hyperparameter import Hyperparameter
from ecopt.objectives import Objective, parse_objectives
from ecopt.pareto import pareto_mask
from ecopt.records import is_out_of_memory
from ecopt.search import RoundProposals, propose
from ecopt.settings import check_objective_names, check_space, validate_section, validate_study

logger = logging.getLogger(__name__)


@dataclass
class OptimizationResult:
    """What ``optimize`` found, in call order.

    ``trials``: one dict per evaluation (round, index, params, status, the metrics
    ``fn`` returned, error); ``frontier``: the Pareto-optimal completed ones;
    ``objectives`` as parsed; ``rounds``: each round's proposals.
    """

    trials: list[dict[str, Any]]
    frontier: list[dict[str, Any]]
    objectives: list[Objective]
    rounds: list[RoundProposals]


def evaluate_trial(fn: Callable[[dict[str, Any]], Mapping[str, float]], params: Mapping[str, Any], objectives: list[Objective]) -> dict[str, Any]:
    """Call ``fn(params)`` and return the trial's status, metrics and error under the outcome rules.

    Metric values that are real numbers are stored as floats, others as returned.
    Returns ``{"status": ..., <metrics>..., "error": ...}`` (no error when completed).
    """
    try:
        result = fn(dict(params))
    except Exception as error:  # a trial records, it does not crash
        status = OUT_OF_MEMORY if is_out_of_memory(error) else FAILED
        return {"status": status, "error": f"{type(error).__name__}: {error}"}
    if not isinstance(result, Mapping):
        return {"status": FAILED, "error": f"fn returned {type(result).__name__}, expected a mapping of metric name -> value"}
    metrics = {str(k): float(v) if isinstance(v, numbers.Real) and not isinstance(v, bool) else v for k, v in result.items()}
    outcome = trial_outcome(COMPLETED, metrics, objectives)
    record = {**metrics, "status": outcome.status}
    if outcome.error is not None:
        logger.warning("trial %s failed: %s", dict(params), outcome.error)
        record["error"] = outcome.error
    return record


def optimize(
    fn: Callable[[dict[str, Any]], Mapping[str, float]],
    space: Mapping[str, Hyperparameter] | Mapping[str, Any],
    objectives: Any = None,
    n_init: int = 10,
    rounds: int = 10,
    batch_size: int = 1,
    seed: int = 0,
    noise_rsd: Mapping[str, float] | None = None,
    settings: Mapping[str, Any] | None = None,
    on_round: Callable[[RoundProposals, list[dict[str, Any]]], None] | None = None,
) -> OptimizationResult:
    """Optimise ``fn(params) -> {metric: value}`` without Snakemake, round by round as the workflow does.

    ``space``: ``Hyperparameter`` objects or a config ``space:`` mapping;
    ``objectives``: a config ``objectives:`` mapping or a list of two metric names
    (maximised); ``n_init`` Sobol points, then ``rounds`` rounds of ``batch_size``
    candidates; ``settings``: further ``search:`` settings; ``on_round(proposals,
    new_trials)`` is called after each round. Raises ConfigError for bad settings.
    """
    if all(isinstance(v, Hyperparameter) for v in space.values()):
        parsed_space = dict(space)
    else:  # a config mapping: validated against the schema's space section first
        parsed_space = dict(validate_study({"space": space}, sections=["space"]).space)
    parsed_objectives = parse_objectives(objectives)
    check_objective_names(parsed_objectives)
    merged = validate_section("search", {**(settings or {}), "initial_trials": n_init, "rounds": rounds, "batch_size": batch_size})
    check_space(parsed_space, merged)  # nothing to search, a baseline outside the space, a finite space smaller than n_init
    trials: list[dict[str, Any]] = []
    history: list[RoundProposals] = []
    for round_index in range(rounds + 1):
        proposal = propose(round_index, trials, parsed_space, parsed_objectives, merged, seed=seed, noise_rsd=noise_rsd, keep_state=False)
        history.append(proposal)
        new_trials = []
        for index, params in enumerate(proposal.proposals):
            new_trials.append({"round": round_index, "index": index, "params": params, **evaluate_trial(fn, params, parsed_objectives)})
        trials.extend(new_trials)
        if on_round is not None:
            on_round(proposal, new_trials)
    values = [trial_outcome(t["status"], t, parsed_objectives).values for t in trials]
    observed = [i for i, v in enumerate(values) if v is not None]
    mask = pareto_mask(np.array([values[i] for i in observed]).reshape(-1, len(parsed_objectives)), [o.minimize for o in parsed_objectives]) if observed else []
    frontier = [trials[i] for i, keep in zip(observed, mask, strict=True) if keep]
    return OptimizationResult(trials=trials, frontier=frontier, objectives=parsed_objectives, rounds=history)
