"""Net impact: does the model a study found pay back the energy the study cost?

The seed paper claims "ECOpt can have a net positive environmental impact". This
module makes the claim checkable for one study: the chosen model (the frontier's
knee, or the most efficient trial at or above ``net_impact.performance_floor``)
is compared with the baseline (``search.baseline``, else the adapter's default
configuration, which round 0 then evaluates: ``study_baseline``) in joules per
inference, and the study's own joules (``ecopt.ledger``) are divided by the
joules saved per inference:

    break_even_inferences = study joules / (baseline J/inference - chosen J/inference)

With ``deployment.inferences`` = N, the net saving is N x saved - study joules,
and its carbon uses the ledger's own kg CO2eq per joule. When the chosen model
saves nothing, ``break_even_inferences`` is null and ``reason`` says why.

Joules per inference is the evaluation window's joules per sample
(1 / ``samples_per_joule``): the only per-inference energy a trial measures.

``lifecycle_samples_per_joule`` (the trial record's option for issue item 3) is
the life-cycle view of efficiency used in ML life-cycle assessments (Wu et al.
2022, "Sustainable AI: Environmental Implications, Challenges and
Opportunities", MLSys; Luccioni, Viguier & Ligozat 2023, "Estimating the Carbon
Footprint of BLOOM", JMLR): training is part of a model's cost and is
amortised over the inferences it serves, N / (E_train + N x e_inference).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ecopt.records import TrialRecord, TrialStatus, as_trial_record


def lifecycle_samples_per_joule(train_joules: float, joules_per_sample: float, inferences: float) -> float:
    """Samples served per joule of the model's life: N / (train_joules + N x joules_per_sample).

    ``train_joules`` (J, >= 0), ``joules_per_sample`` (J, > 0), ``inferences`` = N (> 0).
    Raises ``ValueError`` for values outside those ranges. With N -> infinity it
    tends to samples_per_joule; with N small, training dominates.
    """
    if not (train_joules >= 0 and joules_per_sample > 0 and inferences > 0):
        raise ValueError(
            f"lifecycle_samples_per_joule needs train_joules >= 0, joules_per_sample > 0, inferences > 0; got {train_joules}, {joules_per_sample}, {inferences}"
        )
    return inferences / (train_joules + inferences * joules_per_sample)


def default_configuration(model: Any, space: Mapping[str, Any]) -> dict[str, Any] | None:
    """The adapter's default values of the space's searched parameters, or None when one lies outside the space.

    ``model`` is a built adapter (its ``hyperparameters`` hold their defaults);
    ``space`` the study's parsed space (fixed entries are filled by the search).
    """
    from ecopt.hyperparameter import Fixed

    declared = model.hyperparameters
    point = {}
    for name, domain in space.items():
        if isinstance(domain, Fixed):
            continue
        value = declared[name].value
        try:
            point[name] = domain._validate(value)
        except ValueError:
            return None
    return point


def study_baseline(settings: Any, model: Any) -> list[dict[str, Any]]:
    """The configurations round 0 evaluates first: ``search.baseline``, else (with
    ``net_impact.baseline: adapter_default``) the adapter's default configuration when
    it lies inside the space, else none. ``settings`` is a validated ``StudySettings``.
    """
    from ecopt.settings import thaw

    given = thaw(settings.search.baseline)
    if given or settings.net_impact is None or settings.net_impact.baseline != "adapter_default":
        return list(given)
    point = default_configuration(model, settings.space)
    return [point] if point is not None else []


def joules_per_inference(record: TrialRecord) -> float | None:
    """Evaluation joules per sample (J) of a completed trial, None otherwise."""
    efficiency = record.samples_per_joule
    if record.status is not TrialStatus.COMPLETED or not isinstance(efficiency, (int, float)) or not efficiency > 0:
        return None
    return 1.0 / efficiency


def _position(record: TrialRecord) -> dict[str, Any]:
    return {"round": record.round, "index": record.index, "params": dict(record.params), "performance": record.performance}


def choose_model(records: Sequence[TrialRecord], objectives: Sequence[Any], choice: str, performance_floor: float | None) -> tuple[TrialRecord | None, str]:
    """The chosen trial and how it was chosen (or None and the reason there is none).

    ``knee``: the frontier's knee (``ecopt.pareto.knee_index`` over completed
    trials in optimiser space). ``most_efficient_above_floor``: the highest
    ``samples_per_joule`` among completed trials whose performance reaches the
    floor (at least it, or at most it for a minimised performance objective).
    """
    completed = [r for r in records if joules_per_inference(r) is not None]
    if not completed:
        return None, "no completed trial with a positive samples_per_joule"
    if choice == "knee":
        import numpy as np

        from ecopt.objectives import objective_values
        from ecopt.pareto import knee_index

        values = [objective_values(r, objectives) for r in completed]
        usable = [(r, v) for r, v in zip(completed, values, strict=True) if v is not None and all(np.isfinite(v))]
        if not usable:
            return None, "no completed trial has every objective's value"
        knee = knee_index(np.array([v for _, v in usable], dtype=float), [o.minimize for o in objectives])
        return usable[knee][0], "the frontier's knee"
    performance_objective = next((o for o in objectives if o.metric == "performance"), None)
    minimize = bool(performance_objective is not None and performance_objective.minimize)
    if performance_floor is None:
        eligible = completed
    else:
        reaches = (lambda p: p <= performance_floor) if minimize else (lambda p: p >= performance_floor)
        eligible = [r for r in completed if r.performance is not None and reaches(r.performance)]
    if not eligible:
        return None, f"no completed trial reaches the performance floor {performance_floor}"
    return max(eligible, key=lambda r: r.samples_per_joule), f"the most efficient trial with performance {'<=' if minimize else '>='} {performance_floor}"


def _same_params(params: Mapping[str, Any], point: Mapping[str, Any]) -> bool:
    return all(key in params and params[key] == value for key, value in point.items())


def net_impact(
    records: Sequence[TrialRecord | Mapping[str, Any]],
    objectives: Sequence[Any],
    *,
    choice: str,
    performance_floor: float | None,
    baseline: Sequence[Mapping[str, Any]],
    study_joules: float,
    kg_co2eq_per_joule: float | None,
    deployment_inferences: float | None,
) -> dict[str, Any]:
    """``summary.json``'s ``net_impact`` (``summary.schema.json``).

    Joules per inference of the chosen model and of the baseline (the median over
    the completed trials of ``baseline[0]``; a baseline measured twice counts
    once), ``joules_saved_per_inference`` (baseline - chosen), and
    ``break_even_inferences`` = ``study_joules`` / saved, null with a ``reason``
    when nothing is saved, no baseline was measured or nothing was chosen. With
    ``deployment_inferences`` N: ``net_joules_saved`` = N x saved - study joules
    and ``net_kg_co2eq_saved`` at ``kg_co2eq_per_joule``.
    """
    records = [as_trial_record(r) for r in records]
    result: dict[str, Any] = {"choice": choice, "performance_floor": performance_floor, "study_joules": study_joules, "break_even_inferences": None}
    chosen, how = choose_model(records, objectives, choice, performance_floor)
    if chosen is None:
        result["reason"] = how
        return result
    chosen_jpi = joules_per_inference(chosen)
    result["chosen"] = {**_position(chosen), "how": how, "joules_per_inference": chosen_jpi}
    if not baseline:
        result["reason"] = "no baseline: set search.baseline, or net_impact.baseline: adapter_default with an adapter default inside the space"
        return result
    point = dict(baseline[0])
    matches = [r for r in records if _same_params(r.params, point) and joules_per_inference(r) is not None]
    if not matches:
        result["baseline"] = {"params": point}
        result["reason"] = "the baseline configuration has no completed trial"
        return result
    baseline_jpi = float(statistics.median(joules_per_inference(r) for r in matches))
    performances = [r.performance for r in matches if r.performance is not None]
    result["baseline"] = {
        "params": point,
        "trials": len(matches),
        "performance": statistics.median(performances) if performances else None,
        "joules_per_inference": baseline_jpi,
    }
    saved = baseline_jpi - chosen_jpi
    result["joules_saved_per_inference"] = saved
    if not saved > 0:
        result["reason"] = (
            f"the chosen model ({how}) uses {chosen_jpi:.4g} J per inference, not less than the baseline's {baseline_jpi:.4g} J: "
            "the study's energy is never paid back"
        )
    else:
        result["break_even_inferences"] = study_joules / saved
    if deployment_inferences is not None:
        net = deployment_inferences * saved - study_joules
        result["deployment"] = {
            "inferences": deployment_inferences,
            "net_joules_saved": net,
            "net_kg_co2eq_saved": net * kg_co2eq_per_joule if kg_co2eq_per_joule is not None else None,
        }
    return result
