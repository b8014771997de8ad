"""Net impact: does the model a study found pay back the energy the study cost?

The seed paper claims "ECOpt can have a net positive environmental impact". This
module makes the claim checkable for one study: the chosen model is compared
with the baseline (``search.baseline``, else the adapter's default configuration,
which round 0 then evaluates: ``study_baseline``) in joules per inference, and the
study's own joules (``ecopt.ledger``) are divided by the joules saved per inference:

    break_even_inferences = study joules / (baseline J/inference - chosen J/inference)

The rule for the chosen model, and when it counts as a saving:

* **Candidates** are the completed trials that meet every objective's
  ``threshold`` (the worst value the user accepts: at least it, at most it for a
  minimised objective) and ``net_impact.performance_floor`` when set.
* ``net_impact.choice: knee`` takes the knee of the candidates' frontier (the
  floor applies to the knee too: filter, then knee, since a user who sets a floor
  means "no model below it"); ``most_efficient_above_floor`` the candidate with the
  fewest joules per inference.
* **It must not be worse than the baseline** by more than
  ``net_impact.performance_tolerance`` (performance units, default 0.01: one point
  of accuracy). Joules alone would praise any cheap bad model: an early run of the
  issue-13 code reported a saving for a model of accuracy 0.123. Such a model gets
  no ``break_even_inferences``, and ``reason`` gives the difference; so does a
  study where no trial qualifies.

With ``deployment.inferences`` = N, the net saving is N x saved - study joules,
and its carbon uses the ledger's own kg CO2eq per joule. When the chosen model
saves nothing, ``break_even_inferences`` is null and ``reason`` says why.

Joules per inference is the evaluation window's joules per sample
(1 / ``samples_per_joule``): the only per-inference energy a trial measures.
A study that optimises ``lifecycle_samples_per_joule`` (with ``deployment.inferences``
N) compares life-cycle joules per inference instead, training J / N + evaluation J
per sample (1 / ``lifecycle_samples_per_joule``): that is the cost it chose to
minimise, and comparing evaluation joules alone would praise a model whose
training costs more than its cheaper inferences save over N
(``joules_per_inference_basis`` says which).

``lifecycle_samples_per_joule`` (issue 13 item 3, ``with_lifecycle_efficiency``:
derived from the stored training and evaluation joules wherever records are read,
never stored, so ``deployment.inferences`` is no part of a trial) is the life-cycle view of efficiency used in ML life-cycle assessments (Wu et al.
2022, "Sustainable AI: Environmental Implications, Challenges and
Opportunities", MLSys; Luccioni, Viguier & Ligozat 2023, "Estimating the Carbon
Footprint of BLOOM", JMLR): training is part of a model's cost and is
amortised over the inferences it serves, N / (E_train + N x e_inference).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ecopt.records import TrialRecord, TrialStatus, as_trial_record

logger = logging.getLogger(__name__)


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


def with_lifecycle_efficiency(records: Iterable[TrialRecord | Mapping[str, Any]], inferences: int | None) -> list[TrialRecord]:
    """The records, each with ``lifecycle_samples_per_joule`` derived from what it stored, at N = ``inferences``.

    N / (``train_joules`` + N x ``eval_joules`` / ``samples``) for a completed trial
    with ``eval_joules`` > 0 and ``samples`` > 0 (no ``train_joules``: 0 J of
    training), None otherwise and for every record when ``inferences`` is None.
    Derived, never stored by the trial: N is the deployment's, not the
    measurement's, so a changed ``deployment.inferences`` must not re-measure a
    trial (it is not in ``ecopt.trial.TRIAL_SECTIONS``). Every reader that takes
    objective values from records (the search round, the frontier, the summary,
    ``ecopt status``) calls this first. Returns copies; the inputs are unchanged.
    """
    import dataclasses

    derived = []
    for record in records:
        record = as_trial_record(record)
        value = None
        eval_joules, samples = record.eval_joules, record.samples
        if inferences is not None and record.status is TrialStatus.COMPLETED and isinstance(eval_joules, (int, float)) and eval_joules > 0 and samples:
            value = lifecycle_samples_per_joule(float(record.train_joules or 0.0), eval_joules / samples, inferences)
        derived.append(dataclasses.replace(record, lifecycle_samples_per_joule=value))
    return derived


def uses_lifecycle_efficiency(objectives: Iterable[Any]) -> bool:
    """Whether an objective (``Objective``s) is ``lifecycle_samples_per_joule``: only then does
    ``deployment.inferences`` change what the optimiser sees (the workflow passes the search
    round ``deployment`` only then, so changing N does not redo every round of another study)."""
    return any(o.metric == "lifecycle_samples_per_joule" for o in objectives)


def default_configuration(model: Any, space: Mapping[str, Any]) -> dict[str, Any] | None:
    """The adapter's default values of the space's searched parameters, or None when one lies outside the space.

    ``model`` is a built adapter (its ``hyperparameters`` hold their defaults);
    ``space`` the study's parsed space (fixed entries are filled by the search).
    Raises ``ConfigError`` naming ``space.<name>`` for a parameter the adapter does not declare.
    """
    from ecopt.errors import ConfigError
    from ecopt.hyperparameter import Fixed

    declared = model.hyperparameters
    point = {}
    for name, domain in space.items():
        if isinstance(domain, Fixed):
            continue
        if name not in declared:
            raise ConfigError(f"space.{name}", name, f"a hyperparameter the adapter declares: {sorted(declared)}")
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
    if point is None:
        # Said at config time: otherwise the study runs for hours and its net impact ends in "no baseline".
        outside = _defaults_outside_space(model, settings.space)
        logger.warning(
            "net_impact.baseline: adapter_default, but %s's default configuration lies outside the space (%s): the study has no "
            "baseline and its net impact will say so; set search.baseline, or widen the space",
            type(model).__name__,
            "; ".join(outside),
        )
        return []
    return [point]


def _defaults_outside_space(model: Any, space: Mapping[str, Any]) -> list[str]:
    """``name = default (not in the space's domain)`` for each searched parameter whose adapter default the space refuses."""
    from ecopt.hyperparameter import Fixed

    outside = []
    for name, domain in space.items():
        if isinstance(domain, Fixed):
            continue
        value = model.hyperparameters[name].value
        try:
            domain._validate(value)
        except ValueError as error:
            outside.append(f"{name} = {value!r}: {error}")
    return outside


# What the adapter-default baseline needs from a study file: the adapter (with its options,
# data and seed, to build it), the space, and whether a baseline is wanted.
BASELINE_SECTIONS = ["adapter", "adapter_options", "data", "seed", "space", "search", "net_impact"]


def fill_study_baseline(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` (a study config, unvalidated) with ``search.baseline`` set to ``study_baseline``'s.

    The workflow (the Snakefile) fills it once, before any job, and passes every
    stage its slice with the filled baseline; a stage run by hand with ``--config``
    (``ecopt.cli.study_mapping(..., fill_baseline=True)``: search, frontier,
    summary) gets the same here, so round 0, the frontier's gains and the net
    impact agree with the workflow's. A mapping without an ``adapter`` (a stage's
    slice) or with ``search.baseline`` already given comes back unchanged (a copy).
    Builds the adapter (``ecopt.settings.instantiate_adapter``: constructors are
    cheap, data loads in ``define()``). Raises ConfigError for a bad section.
    """
    from ecopt.settings import instantiate_adapter, validate_study

    filled = dict(mapping)
    search = dict(filled.get("search") or {})
    if not filled.get("adapter") or "space" not in filled or search.get("baseline"):
        return filled
    sections = [name for name in [*BASELINE_SECTIONS, "stages"] if name in filled or name in ("search", "net_impact")]
    settings = validate_study(filled, sections=sections)
    search["baseline"] = study_baseline(settings, instantiate_adapter(settings))
    filled["search"] = search
    return filled


def joules_per_inference(record: TrialRecord, lifecycle: bool = False) -> float | None:
    """Evaluation joules per sample (J) of a completed trial, None otherwise.

    ``lifecycle``: life-cycle joules per inference instead, training J / N +
    evaluation J per sample = 1 / ``lifecycle_samples_per_joule`` (derived by
    ``with_lifecycle_efficiency``; None when the record has none).
    """
    efficiency = record.lifecycle_samples_per_joule if lifecycle else record.samples_per_joule
    if record.status is not TrialStatus.COMPLETED or not isinstance(efficiency, (int, float)) or not efficiency > 0:
        return None
    return 1.0 / efficiency


def _position(record: TrialRecord) -> dict[str, Any]:
    return {"round": record.round, "index": record.index, "params": dict(record.params), "performance": record.performance}


def _reaches(value: Any, bound: float, minimize: bool) -> bool:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value <= bound if minimize else value >= bound


def _threshold_text(objective: Any) -> str:
    return f"{objective.metric} {'<=' if objective.minimize else '>='} {objective.threshold:g}"


def choose_model(
    records: Sequence[TrialRecord], objectives: Sequence[Any], choice: str, performance_floor: float | None, lifecycle: bool = False
) -> tuple[TrialRecord | None, str]:
    """The chosen trial and how it was chosen (or None and the reason there is none).

    The candidates are the completed trials with a positive ``samples_per_joule``
    that meet every objective's ``threshold`` (raw units: at least it, or at most it
    for a minimised objective; a threshold is the worst value the user accepts) and
    the performance floor when one is set. ``knee``: the knee of the candidates'
    frontier (``ecopt.pareto.knee_index`` in optimiser space; the floor filters
    first, then the knee is taken, as a user who sets a floor expects).
    ``most_efficient_above_floor``: the candidate with the fewest joules per
    inference (highest ``samples_per_joule``; with ``lifecycle``, the fewest
    life-cycle joules per inference, ``joules_per_inference``).
    """
    from ecopt.objectives import performance_objective

    completed = [r for r in records if joules_per_inference(r, lifecycle) is not None]
    if not completed:
        return None, "no completed trial with a positive " + ("lifecycle_samples_per_joule" if lifecycle else "samples_per_joule")
    performance = performance_objective(objectives)
    minimize = bool(performance.minimize)
    limits = [o for o in objectives if o.threshold is not None]
    candidates = [r for r in completed if all(_reaches(r.get(o.metric), o.threshold, o.minimize) for o in limits)]
    if not candidates:
        return None, "no completed trial meets the objectives' thresholds (" + ", ".join(_threshold_text(o) for o in limits) + ")"
    floor_text = f"performance {'<=' if minimize else '>='} {performance_floor:g}" if performance_floor is not None else ""
    if performance_floor is not None:
        candidates = [r for r in candidates if _reaches(r.get(performance.metric), performance_floor, minimize)]
        if not candidates:
            return None, f"no trial reaches the performance floor {performance_floor:g} (net_impact.performance_floor)"
    qualifiers = [_threshold_text(o) for o in limits] + ([floor_text] if floor_text else [])
    among = f" among the trials with {' and '.join(qualifiers)}" if qualifiers else ""
    if choice == "knee":
        import numpy as np

        from ecopt.objectives import objective_values
        from ecopt.pareto import knee_index

        values = [objective_values(r, objectives) for r in candidates]
        usable = [(r, v) for r, v in zip(candidates, values, strict=True) if v is not None and all(np.isfinite(v))]
        if not usable:
            return None, "no candidate trial has every objective's value"
        knee = knee_index(np.array([v for _, v in usable], dtype=float), [o.minimize for o in objectives])
        return usable[knee][0], "the frontier's knee" + among
    return min(candidates, key=lambda r: joules_per_inference(r, lifecycle)), "the most efficient trial" + (among or " (no performance floor or threshold set)")


def _same_params(params: Mapping[str, Any], point: Mapping[str, Any]) -> bool:
    return all(key in params and params[key] == value for key, value in point.items())


def net_impact(
    records: Sequence[TrialRecord | Mapping[str, Any]],
    objectives: Sequence[Any],
    *,
    choice: str,
    performance_floor: float | None,
    performance_tolerance: float,
    baseline: Sequence[Mapping[str, Any]],
    study_joules: float,
    kg_co2eq_per_joule: float | None,
    deployment_inferences: int | None,
) -> dict[str, Any]:
    """``summary.json``'s ``net_impact`` (``summary.schema.json``).

    Joules per inference of the chosen model (``choose_model``) and of the baseline
    (the median over the completed trials of ``baseline[0]``; a baseline measured
    twice counts once), ``joules_saved_per_inference`` (baseline - chosen), and
    ``break_even_inferences`` = ``study_joules`` / saved. It is null, with a
    ``reason``, when nothing was chosen, no baseline was measured, nothing is saved,
    or the chosen model's performance is worse than the baseline's by more than
    ``performance_tolerance`` (performance units; a cheaper but worse model is not
    a saving: the tolerance is the user's stated price). With ``deployment_inferences``
    N and a measured baseline, ``deployment`` holds the baseline's ``baseline_joules``
    (N x its J per inference) and ``baseline_kg_co2eq`` whatever was chosen (the
    baseline is reported even when no model qualifies); with a chosen model within
    the tolerance also ``net_joules_saved`` = N x saved - study joules and
    ``net_kg_co2eq_saved`` at ``kg_co2eq_per_joule``.
    """
    records = [as_trial_record(r) for r in records]
    lifecycle = uses_lifecycle_efficiency(objectives) and deployment_inferences is not None
    result: dict[str, Any] = {
        "choice": choice,
        "performance_floor": performance_floor,
        "performance_tolerance": performance_tolerance,
        "study_joules": study_joules,
        "joules_per_inference_basis": "lifecycle: training J / deployment.inferences + evaluation J per sample" if lifecycle else "evaluation J per sample",
        "break_even_inferences": None,
    }
    # The baseline first: its joules per inference, and what it costs over a deployment,
    # are worth reporting even when no trial qualifies as the chosen model.
    baseline_jpi, baseline_reason = None, None
    if not baseline:
        baseline_reason = "no baseline: set search.baseline, or net_impact.baseline: adapter_default with an adapter default inside the space"
    else:
        point = dict(baseline[0])
        matches = [r for r in records if _same_params(r.params, point) and joules_per_inference(r, lifecycle) is not None]
        if not matches:
            result["baseline"] = {"params": point}
            baseline_reason = "the baseline configuration has no completed trial"
        else:
            baseline_jpi = float(statistics.median(joules_per_inference(r, lifecycle) for r in matches))
            performances = [r.performance for r in matches if r.performance is not None]
            baseline_performance = statistics.median(performances) if performances else None
            result["baseline"] = {"params": point, "trials": len(matches), "performance": baseline_performance, "joules_per_inference": baseline_jpi}
    deployment: dict[str, Any] | None = None
    if deployment_inferences is not None and baseline_jpi is not None:
        deployment = {"inferences": deployment_inferences, "baseline_joules": deployment_inferences * baseline_jpi}
        deployment["baseline_kg_co2eq"] = deployment["baseline_joules"] * kg_co2eq_per_joule if kg_co2eq_per_joule is not None else None
        result["deployment"] = deployment
    chosen, how = choose_model(records, objectives, choice, performance_floor, lifecycle)
    if chosen is None:
        result["reason"] = how
        return result
    chosen_jpi = joules_per_inference(chosen, lifecycle)
    result["chosen"] = {**_position(chosen), "how": how, "joules_per_inference": chosen_jpi}
    if baseline_jpi is None:
        result["reason"] = baseline_reason
        return result
    saved = baseline_jpi - chosen_jpi
    result["joules_saved_per_inference"] = saved
    from ecopt.objectives import performance_objective

    performance = performance_objective(objectives)
    minimize = bool(performance.minimize)
    worse_by = None
    if baseline_performance is not None and chosen.performance is not None:
        worse_by = (chosen.performance - baseline_performance) if minimize else (baseline_performance - chosen.performance)
        result["performance_worse_than_baseline_by"] = worse_by
    if worse_by is not None and worse_by > performance_tolerance:
        result["reason"] = (
            f"the chosen model ({how}) is worse than the baseline by {worse_by:.4g} in {performance.metric} "
            f"({'lower' if minimize else 'higher'} is better: {chosen.performance:.4g} against {baseline_performance:.4g}), "
            f"more than net_impact.performance_tolerance {performance_tolerance:g}: "
            "a cheaper but worse model is no saving"
        )
        return result
    if not saved > 0:
        result["reason"] = (
            f"the chosen model ({how}) uses {chosen_jpi:.4g} J per inference, not less than the baseline's {baseline_jpi:.4g} J: "
            "the study's energy is never paid back"
        )
    else:
        result["break_even_inferences"] = study_joules / saved
    if deployment is not None:
        net = deployment_inferences * saved - study_joules
        deployment["net_joules_saved"] = net
        deployment["net_kg_co2eq_saved"] = net * kg_co2eq_per_joule if kg_co2eq_per_joule is not None else None
    return result
