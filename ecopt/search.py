"""The optimiser's round: a Sobol start, then batched qLogNEHVI rounds, each a file.

Every round runs in a fresh process that rebuilds the optimiser's state from the
stored trial records, so a round is a pure function of (config, history, round
number) and the workflow can cache, resume and distribute it. This module decides
what a round does; ``ecopt.history`` turns records into observations (the outcome
rules, the reference point, the outlier levels) and ``ecopt.ax_backend`` (the
only module that imports Ax) configures Ax and BoTorch to generate the candidates.

Choices that differ from Ax's defaults, and why (the evidence sits with the code
that makes each choice):

* **One fit per batch, and batches that exploit.** ``Client.get_next_trials(q)``
  generates q one-arm trials one after another, refitting with pending points
  each time. Here a round's q candidates come from one model fit: the first
  maximises qLogNEHVI, the other q - 1 the hypervolume improvement of the GP's
  posterior mean over the observed front and the candidates already chosen
  (``batch_fill: posterior_mean``; ``ax_backend.use_posterior_mean_hvi``).
  qLogNEHVI's own sequential greedy (``batch_fill: qlognehvi``) sends those q - 1
  candidates to the faces of the box, where fantasies leave the most uncertainty
  to gain from, and batches then cost the search its progress (DTLZ2 6-D, 40
  evaluations: 0.13 of the maximum hypervolume at q = 4 against 0.70 at q = 1).
* **A kernel prior that sees curvature** (``lengthscale_prior``;
  ``ax_backend.surrogate_spec``).
* **A reference point the data can beat** (``history.choose_reference_point``):
  config thresholds once an observation dominates them, else inferred from the
  observed front. Each round's proposals say which.
* **Outliers clipped for the model** (``winsorize``; ``history.winsorization_levels``).
* **Noise from the meter.** With a calibration summary, the meter's measured
  relative spread becomes the standard error of every efficiency observation;
  without one, Ax infers the noise level.
* **Failed trials teach** (``failed_trials: penalize``; the outcome rules in
  ``ecopt.history``).
* **Explicit initial design.** Round 0 is ``initial_trials`` scrambled Sobol
  points (seeded by the study seed alone, so the design does not change with the
  round count), without Ax's centre point, after any ``baseline`` configurations
  the study wants measured for reference. A later round with fewer than two
  completed trials to model is Sobol too.
* **Fast rounds** (one GP per objective, capped GP fits, 64 QMC samples, 512 raw
  samples, the history attached as one data frame: ``ecopt.ax_backend``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecopt import ax_backend
from ecopt.ax_backend import ACQUISITION, SURROGATES
from ecopt.errors import ConfigError
from ecopt.history import choose_reference_point, count_clipped, observations, searched_params, winsorization_levels, with_fixed
from ecopt.hyperparameter import Hyperparameter
from ecopt.objectives import Objective
from ecopt.settings import SearchSettings, validate_section, validate_study

logger = logging.getLogger(__name__)

# The config entries a round reads (the workflow passes this slice of the study).
SEARCH_SECTIONS = ["search", "objectives", "space", "seed", "deployment", "early_stopping"]

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
            points.append(with_fixed(space, searched_params(space, point)))
        except ValueError as error:
            raise ConfigError(f"{key}.baseline[{position}]", dict(point), f"a configuration inside the search space ({error})") from None
    return points


@dataclass
class RoundProposals:
    """What one round proposes, and how it decided.

    ``client``: the round's ``ax.api.Client`` (history plus the proposals as pending
    trials) when ``propose(keep_state=True)``; :meth:`save_state` writes it.
    """

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
    rung_history: dict[str, Any] | None = None  # early stopping on: the earlier rounds' rung points (ecopt.early_stopping)
    client: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The round as ``proposals.json`` records it (the state is saved separately)."""
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
        } | ({"rung_history": self.rung_history} if self.rung_history is not None else {})

    def save_state(self, path: str | Path) -> Path:
        """Write the optimiser's state (reloadable with :func:`load_state`). Raises ValueError when it was not kept."""
        if self.client is None:
            raise ValueError(f"round {self.round}: no optimiser state to save (proposed with keep_state=False)")
        return ax_backend.save_state(self.client, path)


# --------------------------------------------------------------------------- propose
def propose(
    round_index: int,
    history: Sequence[Any],
    space: Mapping[str, Hyperparameter],
    objectives: Sequence[Objective],
    settings: SearchSettings | Mapping[str, Any],
    seed: int = 0,
    noise_rsd: Mapping[str, float] | None = None,
    keep_state: bool = True,
    early_stopping: Any = None,
) -> RoundProposals:
    """Round 0: the Sobol design. Round r >= 1: ``batch_size`` candidates from the history.

    ``history``: the trial records of every earlier round (dicts or typed records),
    observed under ``ecopt.history``'s outcome rules. ``noise_rsd`` maps objective
    names to a measured relative standard deviation (the meter's calibration);
    those observations get it as their standard error. With ``early_stopping``
    (the section) enabled, the proposals carry ``rung_history``: the points of the
    records of rounds before this one only, so this round's trials, run in any
    order, compare with the same points. Raises ConfigError for bad
    settings or an all-fixed space, ValueError for a record whose params no longer
    fit the space.
    """
    started = time.perf_counter()
    levels: dict[str, float] = {}
    winsorized: dict[str, Any] = {}
    ax_backend.require_supported_ax()

    settings = validate_section("search", settings)  # a mapping is validated as the search section
    round_seed = int(seed) * 1000 + int(round_index)
    imported = time.perf_counter()
    observed = observations(history, space, objectives, settings.failed_trials == "penalize") if round_index > 0 else None
    for where, error in observed.errors if observed else []:
        logger.warning("%s: counted as failed: %s", where, error)

    if round_index == 0 or observed is None or observed.counts["completed"] < 2:
        kind, count = "sobol", settings.initial_trials if round_index == 0 else settings.batch_size
        generator = "sobol" if round_index == 0 else "sobol (fewer than two completed trials to model)"
        reference = None
        client = ax_backend.new_client(space, objectives, None, round_seed)
        # Round 0's design comes from the study seed alone, so that it does not change with the round count.
        sobol_seed = int(seed) if round_index == 0 else round_seed
        strategy = ax_backend.set_generation_strategy(client, kind, settings, sobol_seed)
    else:
        kind, count, generator = "mobo", settings.batch_size, ACQUISITION
        reference = choose_reference_point(observed.completed, objectives, settings.reference_margin)
        client = ax_backend.new_client(space, objectives, reference["values"] if reference else None, round_seed)
        if reference is not None:
            levels = winsorization_levels(observed.completed, objectives, reference["values"], settings.winsorize)
            winsorized = {
                o.name: {"level": levels[o.name], "clipped": count_clipped(observed.attached, o, levels[o.name])} for o in objectives if o.name in levels
            }
        strategy = ax_backend.set_generation_strategy(client, kind, settings, round_seed, objectives, levels)

    noise: dict[str, Any] = {}
    if observed is not None:
        for objective in objectives:
            rsd = (noise_rsd or {}).get(objective.name)
            noise[objective.name] = {"source": "meter calibration", "relative_sd": rsd} if rsd is not None else {"source": "inferred by the GP"}
        ax_backend.attach_history(client, observed.attached, objectives, noise_rsd or {})
    rebuilt = time.perf_counter()

    # Baseline configurations lead round 0 (the Sobol design fills the rest of it).
    baseline = baseline_points(settings, space) if round_index == 0 else []
    count -= len(baseline)
    proposals = list(baseline)
    attached = 0  # proposals attached to the experiment as pending trials so far

    def attach_new() -> None:  # pending in the saved state, so a reload sees the round as it was proposed
        nonlocal attached
        ax_backend.attach_pending(client, [searched_params(space, params) for params in proposals[attached:]])
        attached = len(proposals)

    if count > 0:
        # batch_fill qlognehvi: the whole batch from one sequential-greedy qLogNEHVI
        # optimisation. posterior_mean: its first candidate only, then the rest
        # maximise the hypervolume improvement of the GP's posterior mean.
        first = 1 if kind == "mobo" and settings.batch_fill == "posterior_mean" else count
        with ax_backend.seeded(round_seed):
            proposals += ax_backend.generate(strategy, client, space, first)
            if first < count:
                attach_new()  # pending: the rest must improve on them
                ax_backend.use_posterior_mean_hvi(strategy)
                proposals += ax_backend.generate(strategy, client, space, count - first)
                rest = "candidate 2" if count == 2 else f"candidates 2-{count}"
                generator = f"{ACQUISITION} (candidate 1), posterior-mean hypervolume improvement ({rest})"
    attach_new()
    generated = time.perf_counter()

    return RoundProposals(
        round=round_index,
        proposals=proposals,
        generator=generator,
        model=ax_backend.fitted_model_summary(strategy, settings) if kind == "mobo" and count > 0 else None,
        seed=round_seed,
        reference_point=(
            {
                "values": reference["values"],
                "raw_values": [o.untransform(v) for o, v in zip(objectives, reference["values"], strict=True)],
                "objectives": [o.name for o in objectives],
                "space": [o.label for o in objectives],
                "source": reference["source"],
            }
            if reference
            else None
        ),
        winsorized=winsorized,
        noise=noise,
        history=observed.counts if observed else {"total": 0},
        seconds={
            "import": imported - started,
            "rebuild": rebuilt - imported,
            "generate": generated - rebuilt,
            "total": time.perf_counter() - started,
        },
        rung_history=_rung_history(history, objectives, early_stopping, round_index),
        client=client if keep_state else None,
    )


def _rung_history(history: Sequence[Any], objectives: Sequence[Objective], early_stopping: Any, round_index: int) -> dict[str, Any] | None:
    if early_stopping is None or not early_stopping.enabled:
        return None
    from ecopt.early_stopping import round_rung_history

    return round_rung_history(history, objectives, early_stopping, round_index).to_dict()


def load_state(path: str | Path) -> Any:
    """Reload a round's saved optimiser state (``experiment.json``) as an ``ax.api.Client``."""
    return ax_backend.load_state(path)


# --------------------------------------------------------------------------- CLI
def _noise_from_calibration(path: str | None, objectives: Sequence[Objective]) -> dict[str, float] | None:
    """The calibration's relative spread of samples/J for every objective measuring samples/J (None without a summary)."""
    if path is None or not Path(path).is_file():
        return None
    from ecopt.io import read_json

    summary = read_json(path)
    rsd = summary.get("samples_per_joule_rsd")
    if rsd is None:
        return None
    return {o.name: float(rsd) for o in objectives if o.metric == "samples_per_joule"}


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopt.search``: write one round's proposals.json (and its state); exit 2 with a message on bad input."""
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
    from ecopt.net_impact import with_lifecycle_efficiency
    from ecopt.records import load_trial_records

    try:
        if args.round < 0:
            raise ConfigError("--round", args.round, "a round number >= 0")
        # Round 0 (a Sobol draw and the baseline) reads no trial, so no deployment and no early
        # stopping (no earlier rung points): the workflow leaves both out of round 0's settings, so a
        # new N or early_stopping setting reruns no round-0 proposal or trial.
        sections = SEARCH_SECTIONS if args.round > 0 else [s for s in SEARCH_SECTIONS if s not in ("deployment", "early_stopping")]
        study = validate_study(study_mapping(args, fill_baseline=True), sections=sections)
        settings, objectives = study.search, list(study.objectives)
        if study.space is None:
            raise ConfigError("space", None, "the search space of the study")
        space = dict(study.space)
        inferences = study.deployment.inferences if study.deployment is not None else None
        history = with_lifecycle_efficiency(load_trial_records(args.trials), inferences)
        seed = settings.seed if settings.seed is not None else study.seed
        noise_rsd = _noise_from_calibration(args.calibration, objectives)
        result = propose(args.round, history, space, objectives, settings, seed=seed, noise_rsd=noise_rsd, early_stopping=study.early_stopping)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"ecopt.search: {error}", file=sys.stderr)
        return 2
    if args.state is not None:
        result.save_state(args.state)
    write_json(args.out, result.to_dict())
    logger.info(
        "round %d: %d proposals from %s (%s), %.1f s (rebuild %.1f s, generate %.1f s) -> %s",
        args.round,
        len(result.proposals),
        result.generator,
        result.reference_point["source"] if result.reference_point else "no reference point",
        result.seconds["total"],
        result.seconds["rebuild"],
        result.seconds["generate"],
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
