"""The optimiser: a Sobol start, then batched qLogNEHVI rounds, each a file.

This is the one module that talks to Ax (``ax.api.Client``). Every round runs in
a fresh process that rebuilds the optimiser's state from the stored trial
records, so a round is a pure function of (config, history, round number) and
the workflow can cache, resume and distribute it.

Choices that differ from Ax's defaults, and why:

* **One fit per batch, and batches that exploit.** ``Client.get_next_trials(q)``
  generates q one-arm trials one after another, refitting with pending points
  each time. Here a round's q candidates come from one model fit: the first
  maximises qLogNEHVI, the other q - 1 the hypervolume improvement of the GP's
  posterior mean over the observed front and the candidates already chosen
  (``batch_fill: posterior_mean``). qLogNEHVI's own sequential greedy
  (``batch_fill: qlognehvi``) sends those q - 1 candidates to the faces of the
  box, where fantasies leave the most uncertainty to gain from, and batches then
  cost the search its progress (DTLZ2 6-D, 40 evaluations: 0.13 of the maximum
  hypervolume at q = 4 against 0.70 at q = 1).
* **A kernel prior that sees curvature.** Matern-5/2 with Gamma(3, 6) lengthscale
  priors instead of Ax's dimension-scaled LogNormal prior (``lengthscale_prior``;
  reasons in ``_surrogate_spec``).
* **A reference point the data can beat.** While no observed point dominates the
  objective thresholds, Ax's default strategy silently swaps qLogNEHVI for a
  feasibility search and spends rounds there. Config thresholds are used once an
  observation dominates them; until then (and when none are given) the reference
  point is inferred from the observed Pareto front: its nadir minus
  ``reference_margin`` of its range. Each round's proposals say which.
* **Outliers clipped for the model.** Observations worse than the reference point
  by more than ``winsorize`` times the distance from it to the best observed value
  are clipped to that level before the GP sees them (``winsorization_levels``);
  the hypervolume counts nothing there, and the raw values would spend the GP's
  output scale on how bad a bad point is.
* **Noise from the meter.** With a calibration summary, the meter's measured
  relative spread becomes the standard error of every efficiency observation;
  without one, Ax infers the noise level.
* **Failed trials teach.** A failed trial (an architecture that cannot exist, a
  crash) is observed as worse than every completed one (``failed_trials:
  penalize``), so the surrogate steers away from its region; Ax would otherwise
  learn nothing from it and propose its neighbours again.
* **Explicit initial design.** Round 0 is ``initial_trials`` scrambled Sobol
  points (seeded), without Ax's centre point, after any ``baseline``
  configurations the study wants measured for reference.
* **Fast rounds.** One GP per objective instead of Ax's batched multi-output GP
  (the same model; the joint fit took 3-4x as long at 200 trials), GP fits capped
  at ``fit_max_iterations`` L-BFGS-B steps (``_capped_fit_gp_class``), 64 QMC
  samples in qLogNEHVI, 512 raw samples to start its optimisation from (Ax: 1024),
  and the history attached as one data frame.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, Fixed, Hyperparameter, Range
from ecopt.objectives import Objective, objective_values, parse_objectives
from ecopt.records import TrialStatus
from ecopt.settings import SearchSettings, check_space, validate_section, validate_study

logger = logging.getLogger(__name__)

# The config entries a round reads (the workflow passes this slice of the study).
SEARCH_SECTIONS = ["search", "objectives", "space", "seed"]

ACQUISITION = "qLogNEHVI"
SURROGATES = {
    "gamma": "one SingleTaskGP per objective, Matern-5/2 kernel, Gamma(3, 6) lengthscale prior",
    "dimension_scaled": "one SingleTaskGP per objective, Ax's default kernel, dimension-scaled LogNormal lengthscale prior",
}
LENGTHSCALE_PRIORS = tuple(SURROGATES)
BATCH_FILLS = ("posterior_mean", "qlognehvi")


def baseline_points(settings: SearchSettings, space: Mapping[str, Hyperparameter], key: str = "search") -> list[dict[str, Any]]:
    """``search.baseline`` as full configurations of the space, fixed values filled in.

    ``ecopt.settings.validate_study`` has checked them against the space already; the
    check here covers a space handed to ``propose`` directly.
    """
    points = []
    for position, point in enumerate(settings.baseline):
        try:
            points.append(_with_fixed(space, _ax_params(space, point)))
        except ValueError as error:
            raise ConfigError(f"{key}.baseline[{position}]", dict(point), f"a configuration inside the search space ({error})") from None
    return points


@dataclass
class RoundProposals:
    """What one round proposes, and how it decided."""

    round: int
    proposals: list[dict[str, Any]]
    generator: str
    seed: int
    reference_point: dict[str, Any] | None = None
    winsorized: dict[str, Any] = field(default_factory=dict)  # objective -> clipping level and how many observations it clipped
    model: dict[str, Any] | None = None  # the surrogate of a model-based round: kernel, prior, fitted lengthscales
    noise: dict[str, Any] = field(default_factory=dict)
    history: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    state: dict[str, Any] | None = None  # Ax Client JSON snapshot, reloadable

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "generator": self.generator,
            "model": self.model,
            "seed": self.seed,
            "proposals": [{"index": index, "params": params} for index, params in enumerate(self.proposals)],
            "reference_point": self.reference_point,
            "winsorized": self.winsorized,
            "noise": self.noise,
            "history": self.history,
            "seconds": self.seconds,
        }


# --------------------------------------------------------------------------- Ax glue
_QUIET = ("ax", "botorch", "linear_operator", "gpytorch")


def _quiet_ax() -> None:
    """Ax logs every trial it attaches at INFO, on loggers with their own levels; keep warnings only."""
    import ax  # noqa: F401 - its loggers exist only once it is imported

    for name in list(logging.Logger.manager.loggerDict):
        if name.split(".")[0] in _QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=r"(ax|botorch|linear_operator|gpytorch)(\.|$)")


def _ax_parameters(space: Mapping[str, Hyperparameter]) -> list[Any]:
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    parameters: list[Any] = []
    for name, hyperparameter in space.items():
        if isinstance(hyperparameter, Range):
            parameters.append(
                RangeParameterConfig(
                    name=name,
                    bounds=(hyperparameter.min, hyperparameter.max),
                    parameter_type=hyperparameter.value_type.value,  # type: ignore[union-attr]
                    scaling="log" if hyperparameter.log_scale else "linear",
                )
            )
        elif isinstance(hyperparameter, Choice):
            parameters.append(
                ChoiceParameterConfig(
                    name=name,
                    values=list(hyperparameter.values),
                    parameter_type=hyperparameter.value_type.value,  # type: ignore[union-attr]
                    is_ordered=hyperparameter.is_ordered,
                )
            )
        elif not isinstance(hyperparameter, Fixed):
            raise TypeError(f"parameter '{name}': unsupported hyperparameter {hyperparameter!r}")
    if not parameters:
        raise ConfigError("space", list(space), "at least one range or choice parameter to search")
    return parameters


def _objective_string(objectives: Sequence[Objective]) -> str:
    return ", ".join(f"-{o.name}" if o.minimize else o.name for o in objectives)


def _threshold_constraints(objectives: Sequence[Objective], reference: Sequence[float]) -> list[str]:
    # Ax takes objective thresholds as outcome constraints on the objective metrics.
    return [f"{o.name} {'<=' if o.minimize else '>='} {value!r}" for o, value in zip(objectives, reference)]


def _new_client(space: Mapping[str, Hyperparameter], objectives: Sequence[Objective], reference: Sequence[float] | None, seed: int) -> Any:
    from ax.api.client import Client

    client = Client(random_seed=seed)
    client.configure_experiment(parameters=_ax_parameters(space), name="ecopt")
    constraints = _threshold_constraints(objectives, reference) if reference is not None else None
    client.configure_optimization(objective=_objective_string(objectives), outcome_constraints=constraints)
    return client


def _surrogate_spec(settings: Mapping[str, Any]) -> Any:
    """One GP per objective, with the kernel prior of ``settings.lengthscale_prior``.

    One GP per objective (a ModelListGP) instead of Ax's batched multi-output GP:
    the same model, but each objective's hyperparameters converge on their own, and
    the joint fit took 3-4x as long at 200 trials.

    ``gamma``: a Matern-5/2 kernel with Gamma(3, 6) lengthscale priors (mode 1/3 of
    the normalised range) and a Gamma(2, 0.15) outputscale prior. Ax's default,
    ``dimension_scaled`` (LogNormal(sqrt 2 + ln(d)/2, sqrt 3), Hvarfner et al. 2024),
    puts its median lengthscale near 10 range widths at d = 6: with few trials the GP
    then explains a bowl-shaped objective as a near-linear trend plus noise,
    extrapolates it to the faces of the box, and qLogNEHVI spends the batch there
    (every candidate of 40 evaluations on DTLZ2 6-D had 2-5 coordinates on a face).
    It hurts batches most: the q - 1 fantasy-conditioned candidates of a round go to
    the faces too, and the model never sees the curvature. With ``gamma`` (and
    qLogNEHVI batches), q = 4 reached 0.52 of the maximum hypervolume at 40
    evaluations instead of 0.13, and q = 1 0.74 instead of 0.70.
    Unordered choices reach the GP one-hot encoded (Ax's default transforms), so
    the kernel is the same for every space.
    """
    from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec
    from ax.generators.torch.botorch_modular.utils import ModelConfig

    iterations = settings.fit_max_iterations
    # The iteration cap travels in mll_options, which Ax hands to the fit routine only.
    model = {"botorch_model_class": _capped_fit_gp_class(), "mll_options": {"fit_max_iterations": iterations}} if iterations else {}
    if settings.lengthscale_prior == "dimension_scaled":
        # The model's default kernel and prior are Ax's.
        return SurrogateSpec(model_configs=[ModelConfig(**model)], allow_batched_models=False) if model else SurrogateSpec(allow_batched_models=False)
    from ax.generators.torch.botorch_modular.kernels import ScaleMaternKernel
    from botorch.models import SingleTaskGP
    from gpytorch.priors import GammaPrior

    config = ModelConfig(
        **(model or {"botorch_model_class": SingleTaskGP}),
        covar_module_class=ScaleMaternKernel,
        covar_module_options={"lengthscale_prior": GammaPrior(3.0, 6.0), "outputscale_prior": GammaPrior(2.0, 0.15)},
        name="matern52-gamma",
    )
    return SurrogateSpec(model_configs=[config], allow_batched_models=False)


_CAPPED_FIT_GP: Any = None


def _capped_fit_gp_class() -> Any:
    """A SingleTaskGP whose hyperparameter fit stops after ``fit_max_iterations`` L-BFGS-B steps.

    The same model as SingleTaskGP; only its fit differs. Fitting two GPs to 200
    trials ran 90-160 L-BFGS-B iterations each (a third of a round's time), but the
    marginal likelihood was within 0.001-0.007 nats per observation of its optimum
    after 50: the tail moves hyperparameters that no longer change the proposals.
    Registered through Ax's public extension points: its model-fitting dispatcher
    and its storage registry (so that saved states reload).
    """
    global _CAPPED_FIT_GP
    if _CAPPED_FIT_GP is None:
        from ax.generators.torch.botorch_modular.utils import fit_botorch_model
        from ax.storage.botorch_modular_registry import register_model
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP

        class SingleTaskGPCappedFit(SingleTaskGP):
            """SingleTaskGP, fitted by at most ``mll_options["fit_max_iterations"]`` L-BFGS-B iterations."""

        @fit_botorch_model.register(SingleTaskGPCappedFit)
        def _fit(model: Any, mll_class: Any, mll_options: dict[str, Any] | None = None) -> None:
            options = dict(mll_options or {})
            iterations = int(options.pop("fit_max_iterations"))
            mll = mll_class(likelihood=model.likelihood, model=model, **options)
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": iterations}})

        register_model(SingleTaskGPCappedFit)
        _CAPPED_FIT_GP = SingleTaskGPCappedFit
    return _CAPPED_FIT_GP


def _fitted_model_summary(strategy: Any, settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the round's GPs are and what they learned: kernel, lengthscale prior, ARD lengthscales.

    Lengthscales are in the GP's input space (each parameter scaled to [0, 1], log
    parameters on log scale, unordered choices one-hot); short means influential.
    """
    adapter = strategy.adapter
    try:
        model = adapter.botorch_model
    except Exception:  # noqa: BLE001 - a summary must never cost a round
        return None
    models = list(getattr(model, "models", [model]))
    summary: dict[str, Any] = {
        "description": SURROGATES[settings.lengthscale_prior],
        "model_class": type(models[0]).__name__ if models else None,
        "fit_max_iterations": settings.fit_max_iterations or None,  # null: fitted until converged
        "lengthscales": {},
    }
    for outcome, gp in zip(adapter.outcomes, models):
        kernel = getattr(gp.covar_module, "base_kernel", gp.covar_module)
        lengthscale = getattr(kernel, "lengthscale", None)
        prior = getattr(kernel, "lengthscale_prior", None)
        summary.setdefault("kernel", type(kernel).__name__)
        summary.setdefault("lengthscale_prior", type(prior).__name__ if prior is not None else None)
        if lengthscale is not None:
            values = lengthscale.detach().reshape(-1).tolist()
            summary["lengthscales"][outcome] = {name: round(float(v), 4) for name, v in zip(adapter.parameters, values)}
    return summary


def _generation_strategy(kind: str, settings: Mapping[str, Any], seed: int, transform_configs: Mapping[str, Any] | None = None) -> Any:
    from ax.adapter.registry import Generators
    from ax.generation_strategy.generation_node import GenerationNode
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.generation_strategy.generator_spec import GeneratorSpec

    if kind == "sobol":
        spec = GeneratorSpec(generator_enum=Generators.SOBOL, generator_kwargs={"seed": seed, "deduplicate": True})
    else:
        from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement

        spec = GeneratorSpec(
            generator_enum=Generators.BOTORCH_MODULAR,
            generator_kwargs={
                "botorch_acqf_class": qLogNoisyExpectedHypervolumeImprovement,
                "botorch_acqf_options": {"mc_samples": settings.mc_samples},
                "surrogate_spec": _surrogate_spec(settings),
                **({"transform_configs": dict(transform_configs)} if transform_configs else {}),
            },
            generator_gen_kwargs={
                "model_gen_options": {
                    "optimizer_kwargs": {"num_restarts": settings.num_restarts, "raw_samples": settings.raw_samples}
                }
            },
        )
    node = GenerationNode(name=kind, generator_specs=[spec], should_deduplicate=True)
    return GenerationStrategy(name=f"ecopt-{kind}", nodes=[node])


# --------------------------------------------------------------------------- history
def _ax_params(space: Mapping[str, Hyperparameter], params: Mapping[str, Any]) -> dict[str, Any]:
    """The searched (non-fixed) parameters, coerced to the space's types."""
    values = {}
    for name, hyperparameter in space.items():
        if isinstance(hyperparameter, Fixed):
            continue
        if name not in params:
            raise ValueError(f"parameter '{name}' missing")
        values[name] = hyperparameter._validate(params[name])
    return values


def _with_fixed(space: Mapping[str, Hyperparameter], params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: hp.value if isinstance(hp, Fixed) else hp._validate(params[name]) for name, hp in space.items()}


@dataclass
class _Observations:
    attached: list[tuple[dict[str, Any], dict[str, float] | None]]  # (params, values in optimiser space or None = failed)
    completed: np.ndarray  # (n, 2) values of fully observed trials, optimiser space
    counts: dict[str, int]


def _observations(
    history: Sequence[Mapping[str, Any]], space: Mapping[str, Hyperparameter], objectives: Sequence[Objective], penalize_failed: bool = True
) -> _Observations:
    counts = {TrialStatus.COMPLETED.value: 0, TrialStatus.OUT_OF_MEMORY.value: 0, TrialStatus.FAILED.value: 0, "total": len(history)}
    completed: list[list[float]] = []
    # (params, record, its objective values if it completed with all of them)
    pending: list[tuple[dict[str, Any], Mapping[str, Any], list[float] | None]] = []
    for record in history:
        where = record.get("path", f"trial {record.get('index')}")
        try:
            params = _ax_params(space, record["params"])
        except ValueError as error:
            raise ValueError(f"{where}: params do not fit the configured space ({error}); was the space edited after this trial ran?") from None
        values = objective_values(record, objectives) if record.get("status") == TrialStatus.COMPLETED else None
        pending.append((params, record, values))
        if values is not None:
            completed.append(values)
    completed_array = np.asarray(completed, dtype=float).reshape(-1, len(objectives))
    # OOM penalty in a log-scale objective: zero efficiency has no logarithm; model it
    # as ten times worse than the worst efficiency observed (a dominated, finite value).
    floors = {}
    # Failed trials (an architecture that cannot exist, a crash): Ax learns nothing from a
    # FAILED trial and proposes the same region again. Observing them as worse than every
    # completed trial (SMAC's treatment of crashes) teaches the surrogate to avoid it.
    penalties: dict[str, float] = {}
    signs = _maximisation_signs(objectives)
    for column, objective in enumerate(objectives):
        finite = completed_array[:, column] if len(completed_array) else np.array([0.0])
        floors[objective.name] = (finite.min() - 1.0) if objective.log_scale else None
        if len(completed_array):
            oriented = finite * signs[column]
            spread = max(float(np.ptp(oriented)), 1e-6)
            penalties[objective.name] = float((oriented.min() - (1.0 if objective.log_scale else 0.1 * spread)) * signs[column])

    attached: list[tuple[dict[str, Any], dict[str, float] | None]] = []
    for params, record, completed_values in pending:
        status = record.get("status")
        if completed_values is not None:
            counts[TrialStatus.COMPLETED.value] += 1
            attached.append((params, {o.name: v for o, v in zip(objectives, completed_values)}))
        elif status == TrialStatus.OUT_OF_MEMORY:
            counts[TrialStatus.OUT_OF_MEMORY.value] += 1
            observed: dict[str, float] = {}
            for objective in objectives:
                raw = record.get(objective.metric)
                if isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
                    value = objective.transform(raw)
                    observed[objective.name] = value if math.isfinite(value) else float(floors[objective.name])
            attached.append((params, observed or None))
        else:
            counts[TrialStatus.FAILED.value] += 1
            attached.append((params, dict(penalties) if penalize_failed and penalties else None))
    return _Observations(attached=attached, completed=completed_array, counts=counts)


def _maximisation_signs(objectives: Sequence[Objective]) -> np.ndarray:
    return np.array([-1.0 if o.minimize else 1.0 for o in objectives])


def choose_reference_point(
    completed: np.ndarray, objectives: Sequence[Objective], margin: float
) -> dict[str, Any] | None:
    """The acquisition's reference point, in the optimiser's space, and where it came from."""
    if len(completed) == 0:
        return None
    from ecopt.frontier import pareto_mask

    signs = _maximisation_signs(objectives)
    front = completed[pareto_mask(completed, [o.minimize for o in objectives])] * signs
    nadir, best = front.min(axis=0), front.max(axis=0)
    spread = np.where(best - nadir > 0, best - nadir, np.maximum(np.abs(nadir), 1.0) * 0.1)
    inferred = (nadir - margin * spread) * signs
    configured = [o.transform(o.threshold) if o.threshold is not None else None for o in objectives]
    if all(value is None for value in configured):
        return {"values": inferred.tolist(), "source": f"inferred: observed Pareto front's nadir minus {margin:g} of its range"}
    candidate = np.array([c if c is not None else i for c, i in zip(configured, inferred)])
    beaten = np.any(np.all(completed * signs > candidate * signs, axis=1))
    if beaten:
        return {"values": candidate.tolist(), "source": "config thresholds" + (" (others inferred)" if None in configured else "")}
    return {
        "values": inferred.tolist(),
        "source": f"inferred: no observation dominates the config thresholds {configured} yet; nadir minus {margin:g} of the front's range",
    }


def winsorization_levels(
    completed: np.ndarray, objectives: Sequence[Objective], reference: Sequence[float], factor: float
) -> dict[str, float]:
    """Per objective, the level (optimiser space) that observations worse than it are clipped to.

    The level lies ``factor`` times the distance from the reference point to the
    best observed value beyond the reference point. The hypervolume counts nothing
    worse than the reference point, but a GP fitted to raw values spends its output
    scale on them: on BraninCurrin, Branin values down to -300 against a reference
    of -18 squeeze the region that matters into a sliver of the standardised range,
    and qLogNEHVI then explores where the model is merely uncertain about how bad a
    point is. Only objectives where at least two completed observations reach the
    level are clipped (below that, the clip would flatten everything but the best).
    """
    if factor <= 0 or len(completed) == 0:
        return {}
    signs = _maximisation_signs(objectives)
    oriented = completed * signs
    levels = {}
    for column, objective in enumerate(objectives):
        ref = reference[column] * signs[column]
        width = oriented[:, column].max() - ref
        level = ref - factor * width
        if width > 0 and np.count_nonzero(oriented[:, column] >= level) >= 2:
            levels[objective.name] = float(level * signs[column])
    return levels


# Ax's Winsorize clips at min(quantile cutoff, boundary); a quantile just under one
# puts the quantile cutoff at the second-best value, so the boundary is the cutoff
# whenever two observations reach it (which winsorization_levels ensures).
_ALMOST_ONE = 1.0 - 1e-9


def _winsorize_transform_config(client: Any, objectives: Sequence[Objective], levels: Mapping[str, float]) -> dict[str, Any]:
    from ax.generators.winsorization_config import WinsorizationConfig

    metrics = client._experiment.metrics
    config = {}
    for objective in objectives:
        if objective.name not in levels:
            continue
        level = levels[objective.name]
        config[metrics[objective.name].signature] = (
            WinsorizationConfig(upper_quantile_margin=_ALMOST_ONE, upper_boundary=level)
            if objective.minimize
            else WinsorizationConfig(lower_quantile_margin=_ALMOST_ONE, lower_boundary=level)
        )
    return {"Winsorize": {"winsorization_config": config}} if config else {}


def _attach_history(
    client: Any, attached: Sequence[tuple[dict[str, Any], dict[str, float] | None]], objectives: Sequence[Objective], noise_rsd: Mapping[str, float]
) -> None:
    """Attach every stored trial and its data to the client's experiment.

    All data goes in as one ``Data`` frame: ``Client.complete_trial`` validates
    each trial against the whole data frame, which made rebuilding state
    quadratic in the number of trials (2-3 s at 200 trials, now ~0.2 s).
    """
    import pandas as pd
    from ax.core.data import Data

    experiment = client._experiment
    signatures = {name: metric.signature for name, metric in experiment.metrics.items()}
    rows: list[dict[str, Any]] = []
    outcomes: list[tuple[Any, bool]] = []
    for params, values in attached:
        trial = experiment.trials[client.attach_trial(parameters=params)]
        outcomes.append((trial, values is not None))
        for objective in objectives:
            if values is None or objective.name not in values:
                continue
            value = values[objective.name]
            rsd = noise_rsd.get(objective.name)
            # Relative spread r of the raw value: SEM r*|v| in linear units, r/ln(10)
            # in log10 units (delta method). NaN: Ax infers the noise level.
            sem = float("nan") if rsd is None else (rsd / math.log(10) if objective.log_scale else rsd * abs(value))
            rows.append({"trial_index": trial.index, "arm_name": trial.arm.name, "metric_name": objective.name,
                         "metric_signature": signatures[objective.name], "mean": float(value), "sem": sem})
    if rows:
        experiment.attach_data(Data(df=pd.DataFrame(rows)))
    for trial, completed in outcomes:
        if completed:
            trial.mark_completed()
        else:
            trial.mark_failed()


def _count_clipped(attached: Sequence[tuple[dict[str, Any], dict[str, float] | None]], objective: Objective, level: float) -> int:
    """How many attached observations (failure penalties included) lie beyond ``level``."""
    values = [v[objective.name] for _, v in attached if v is not None and objective.name in v]
    return sum(1 for v in values if (v > level if objective.minimize else v < level))


def _generate(strategy: Any, experiment: Any, space: Mapping[str, Hyperparameter], count: int) -> list[dict[str, Any]]:
    runs = strategy.gen(experiment=experiment, n=count, num_trials=1)
    return [_with_fixed(space, arm.parameters) for run in runs for generator_run in run for arm in generator_run.arms]


_POSTERIOR_MEAN_HVI: Any = None


def _posterior_mean_hvi_class() -> Any:
    """The hypervolume improvement of the GP's posterior mean over the mean front of the observed and pending points.

    qLogEHVI on ``PosteriorMeanModel(model)`` with one (index) sample and a box
    partitioning of the posterior means at the observed and pending points, built
    once: the deterministic counterpart of qLogNEHVI, without re-evaluating the
    baseline at every step of the optimiser (qLogNEHVI on the mean model took 16-19 s
    for 3 candidates at 200 trials, this well under a second per candidate).
    Registered with qLogNEHVI's input constructor, so that Ax builds it with the same
    reference point, objective and pending points.
    """
    global _POSTERIOR_MEAN_HVI
    if _POSTERIOR_MEAN_HVI is None:
        import torch
        from botorch.acquisition.input_constructors import acqf_input_constructor, construct_inputs_qLogNEHVI
        from botorch.acquisition.multi_objective.logei import qLogExpectedHypervolumeImprovement
        from botorch.models.deterministic import PosteriorMeanModel
        from botorch.sampling.index_sampler import IndexSampler
        from botorch.utils.multi_objective.box_decompositions.non_dominated import FastNondominatedPartitioning

        class qLogPosteriorMeanHVI(qLogExpectedHypervolumeImprovement):
            def __init__(
                self, model: Any, ref_point: Any, X_baseline: Any, objective: Any = None, constraints: Any = None,
                X_pending: Any = None, eta: Any = 1e-3, fat: bool = True, **_: Any,
            ) -> None:
                mean_model = PosteriorMeanModel(model)
                known = X_baseline if X_pending is None else torch.cat([X_baseline, X_pending], dim=-2)
                with torch.no_grad():
                    means = mean_model.posterior(known).mean
                    values = objective(means.unsqueeze(0), X=known).squeeze(0) if objective is not None else means
                ref = torch.as_tensor(ref_point, dtype=values.dtype, device=values.device)
                super().__init__(
                    model=mean_model, ref_point=ref, partitioning=FastNondominatedPartitioning(ref_point=ref, Y=values),
                    sampler=IndexSampler(torch.Size([1])), objective=objective, constraints=constraints, eta=eta, fat=fat,
                )

        acqf_input_constructor(qLogPosteriorMeanHVI)(construct_inputs_qLogNEHVI)
        _POSTERIOR_MEAN_HVI = qLogPosteriorMeanHVI
    return _POSTERIOR_MEAN_HVI


def _use_posterior_mean_hvi(strategy: Any) -> None:
    """Switch the strategy's fitted generator to the posterior-mean hypervolume improvement.

    Batches: after the first candidate, qLogNEHVI's sequential greedy conditions on
    fantasies of the candidates already chosen; what is left to gain near them is
    small, so the later candidates go where the GP is most uncertain, on the faces
    of the box (on DTLZ2 6-D, half of them had 2-5 coordinates on a face) and teach
    the model little. Candidates 2..q instead maximise the hypervolume improvement of
    the posterior mean over the observed front and the pending candidates: the
    first candidate explores, the rest exploit, spread along the front by the
    hypervolume's geometry. The model is not refitted (pending trials add no data).
    """
    generator = strategy.adapter.generator
    generator._user_specified_botorch_acqf_class = generator._botorch_acqf_class = _posterior_mean_hvi_class()
    generator._botorch_acqf_options = {}


# --------------------------------------------------------------------------- propose
def propose(
    round_index: int,
    history: Sequence[Mapping[str, Any]],
    space: Mapping[str, Hyperparameter],
    objectives: Sequence[Objective],
    settings: Mapping[str, Any],
    seed: int = 0,
    noise_rsd: Mapping[str, float] | None = None,
    keep_state: bool = True,
) -> RoundProposals:
    """Round 0: the Sobol design. Round r >= 1: ``batch_size`` candidates from the history.

    ``noise_rsd`` maps objective names to a measured relative standard deviation
    (the meter's calibration); those observations get it as their standard error.
    """
    started = time.perf_counter()
    levels: dict[str, float] = {}
    winsorized: dict[str, Any] = {}
    from ax.api.client import Client  # noqa: F401 - imported here so that its loggers can be quietened
    from ax.utils.common.random import with_rng_seed

    _quiet_ax()

    settings = validate_section("search", settings)  # a mapping is validated as the search section
    round_seed = int(seed) * 1000 + int(round_index)
    imported = time.perf_counter()
    observations = _observations(history, space, objectives, settings.failed_trials == "penalize") if round_index > 0 else None

    if round_index == 0 or observations is None or observations.counts[TrialStatus.COMPLETED.value] < 2:
        kind, count = "sobol", settings.initial_trials if round_index == 0 else settings.batch_size
        generator = "sobol" if round_index == 0 else "sobol (fewer than two completed trials to model)"
        reference = None
        client = _new_client(space, objectives, None, round_seed)
        # Round 0's design comes from the study seed alone, so that it does not change with the round count.
        sobol_seed = int(seed) if round_index == 0 else round_seed
        strategy = _generation_strategy(kind, settings, sobol_seed)
    else:
        kind, count, generator = "mobo", settings.batch_size, ACQUISITION
        reference = choose_reference_point(observations.completed, objectives, settings.reference_margin)
        client = _new_client(space, objectives, reference["values"] if reference else None, round_seed)
        if reference is not None:
            levels = winsorization_levels(observations.completed, objectives, reference["values"], settings.winsorize)
            winsorized = {
                o.name: {"level": levels[o.name], "clipped": _count_clipped(observations.attached, o, levels[o.name])}
                for o in objectives
                if o.name in levels
            }
        strategy = _generation_strategy(kind, settings, round_seed, _winsorize_transform_config(client, objectives, levels))
    client.set_generation_strategy(strategy)

    noise: dict[str, Any] = {}
    if observations is not None:
        for objective in objectives:
            rsd = (noise_rsd or {}).get(objective.name)
            noise[objective.name] = (
                {"source": "meter calibration", "relative_sd": rsd}
                if rsd is not None
                else {"source": "inferred by the GP"}
            )
        _attach_history(client, observations.attached, objectives, noise_rsd or {})
    rebuilt = time.perf_counter()

    # Baseline configurations lead round 0 (the Sobol design fills the rest of it).
    baseline = baseline_points(settings, space) if round_index == 0 else []
    count -= len(baseline)
    proposals = list(baseline)
    attached = 0  # proposals attached to the experiment as pending trials so far

    def attach_new() -> None:  # pending in the saved state, so a reload sees the round as it was proposed
        nonlocal attached
        for params in proposals[attached:]:
            client.attach_trial(parameters=_ax_params(space, params))
        attached = len(proposals)

    if count > 0:
        # batch_fill qlognehvi: the whole batch from one sequential-greedy qLogNEHVI
        # optimisation. posterior_mean: its first candidate only, then the rest
        # maximise the hypervolume improvement of the GP's posterior mean (_use_posterior_mean_hvi).
        first = 1 if kind == "mobo" and settings.batch_fill == "posterior_mean" else count
        with with_rng_seed(round_seed):
            proposals += _generate(strategy, client._experiment, space, first)
            if first < count:
                attach_new()  # pending: the rest must improve on them
                _use_posterior_mean_hvi(strategy)
                proposals += _generate(strategy, client._experiment, space, count - first)
                rest = "candidate 2" if count == 2 else f"candidates 2-{count}"
                generator = f"{ACQUISITION} (candidate 1), posterior-mean hypervolume improvement ({rest})"
    attach_new()
    generated = time.perf_counter()

    state = client._to_json_snapshot() if keep_state else None
    return RoundProposals(
        round=round_index,
        proposals=proposals,
        generator=generator,
        model=_fitted_model_summary(strategy, settings) if kind == "mobo" and count > 0 else None,
        seed=round_seed,
        reference_point=(
            {
                "values": reference["values"],
                "raw_values": [o.untransform(v) for o, v in zip(objectives, reference["values"])],
                "objectives": [o.name for o in objectives],
                "space": [o.label for o in objectives],
                "source": reference["source"],
            }
            if reference
            else None
        ),
        winsorized=winsorized,
        noise=noise,
        history=observations.counts if observations else {"total": 0},
        seconds={
            "import": imported - started,
            "rebuild": rebuilt - imported,
            "generate": generated - rebuilt,
            "total": time.perf_counter() - started,
        },
        state=state,
    )


def load_state(path: str | Path) -> Any:
    """Reload a round's saved optimiser state as an ``ax.api.Client``."""
    _quiet_ax()
    _capped_fit_gp_class()  # registered with Ax's storage, so that the state decodes
    from ax.api.client import Client

    return Client.load_from_json_file(str(path))


# --------------------------------------------------------------------------- plain-function API
@dataclass
class OptimizationResult:
    trials: list[dict[str, Any]]
    frontier: list[dict[str, Any]]
    objectives: list[Objective]
    rounds: list[RoundProposals]


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

    Each round rebuilds the optimiser from the trials so far, exactly like a
    workflow round in a fresh process. ``fn`` may raise: the trial is recorded as
    failed (``MemoryError`` as out of memory with zero values) and the search goes on.
    """
    from ecopt.frontier import pareto_mask

    if all(isinstance(v, Hyperparameter) for v in space.values()):
        parsed_space = dict(space)
    else:  # a config mapping: validated against the schema's space section first
        parsed_space = dict(validate_study({"space": space}, sections=["space"]).space)
    parsed_objectives = parse_objectives(objectives)
    merged = validate_section("search", {**(settings or {}), "initial_trials": n_init, "rounds": rounds, "batch_size": batch_size})
    check_space(parsed_space, merged)  # nothing to search, a baseline outside the space, a finite space smaller than n_init
    trials: list[dict[str, Any]] = []
    history: list[RoundProposals] = []
    for round_index in range(rounds + 1):
        proposal = propose(round_index, trials, parsed_space, parsed_objectives, merged, seed=seed, noise_rsd=noise_rsd, keep_state=False)
        history.append(proposal)
        new_trials = []
        for index, params in enumerate(proposal.proposals):
            record: dict[str, Any] = {"round": round_index, "index": index, "params": params}
            try:
                record.update({k: float(v) for k, v in dict(fn(dict(params))).items()})
                record["status"] = TrialStatus.COMPLETED
            except MemoryError as error:
                record.update(status=TrialStatus.OUT_OF_MEMORY, error=str(error))
                record.update({o.metric: 0.0 for o in parsed_objectives if o.name != parsed_objectives[0].name})
            except Exception as error:  # a trial records, it does not crash
                record.update(status=TrialStatus.FAILED, error=f"{type(error).__name__}: {error}")
            new_trials.append(record)
        trials.extend(new_trials)
        if on_round is not None:
            on_round(proposal, new_trials)
    values = [objective_values(t, parsed_objectives) if t["status"] == TrialStatus.COMPLETED else None for t in trials]
    observed = [i for i, v in enumerate(values) if v is not None]
    mask = pareto_mask(np.array([values[i] for i in observed]).reshape(-1, 2), [o.minimize for o in parsed_objectives]) if observed else []
    frontier = [trials[i] for i, keep in zip(observed, mask) if keep]
    return OptimizationResult(trials=trials, frontier=frontier, objectives=parsed_objectives, rounds=history)


# --------------------------------------------------------------------------- CLI
def _noise_from_calibration(path: str | None, objectives: Sequence[Objective]) -> dict[str, float] | None:
    if path is None or not Path(path).is_file():
        return None
    from ecopt.io import read_json

    summary = read_json(path)
    rsd = summary.get("samples_per_joule_rsd")
    if rsd is None:
        return None
    return {o.name: float(rsd) for o in objectives if o.metric == "samples_per_joule"}


def main(argv: list[str] | None = None) -> int:
    from ecopt.cli import add_study_arguments, study_mapping

    parser = argparse.ArgumentParser(prog="python -m ecopt.search", description="Propose one round of trials.")
    add_study_arguments(parser)
    parser.add_argument("--round", type=int, required=True, help="round number: 0 is the Sobol design")
    parser.add_argument("--trials", nargs="*", default=[], help="trial record files or folders of every earlier round")
    parser.add_argument("--out", required=True, help="proposals.json to write")
    parser.add_argument("--state", default=None, help="experiment.json to write (the optimiser's state, reloadable)")
    parser.add_argument("--calibration", default=None, help="calibration summary.json: its samples/J spread becomes observation noise")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    from ecopt.io import write_json
    from ecopt.records import load_trial_records

    try:
        if args.round < 0:
            raise ConfigError("--round", args.round, "a round number >= 0")
        study = validate_study(study_mapping(args), sections=SEARCH_SECTIONS)
        settings, objectives = study.search, list(study.objectives)
        if study.space is None:
            raise ConfigError("space", None, "the search space of the study")
        space = dict(study.space)
        history = load_trial_records(args.trials)
        seed = settings.seed if settings.seed is not None else study.seed
        result = propose(args.round, history, space, objectives, settings, seed=seed, noise_rsd=_noise_from_calibration(args.calibration, objectives))
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"ecopt.search: {error}", file=sys.stderr)
        return 2
    if args.state is not None and result.state is not None:
        write_json(args.state, result.state)
    write_json(args.out, result.to_dict())
    logger.info(
        "round %d: %d proposals from %s (%s), %.1f s (rebuild %.1f s, generate %.1f s) -> %s",
        args.round, len(result.proposals), result.generator,
        result.reference_point["source"] if result.reference_point else "no reference point",
        result.seconds["total"], result.seconds["rebuild"], result.seconds["generate"], args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
