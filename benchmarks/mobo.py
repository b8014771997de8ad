"""ECOpt's optimiser against its peers at equal evaluation budgets (a script, not a test).

Problems (maximised, BoTorch's definitions, known maximum hypervolume):
  * BraninCurrin (2-D), reference point from BoTorch;
  * DTLZ2 with 6 inputs and 2 objectives, reference point (1.1, 1.1) (negated).
Methods: ECOpt q=1 and q=4 (10 Sobol points, then model-based rounds, state rebuilt
from the trials every round, as in the workflow; ``--search batch_fill=qlognehvi
lengthscale_prior=dimension_scaled`` runs it with Ax's choices), Optuna's TPE, NSGA-II
(population 10) and GP samplers (10 start-up trials), and Sobol alone.
ECOpt is given the problem's reference point as objective thresholds.
``--methods botorch_q1 botorch_q4`` adds a plain BoTorch loop (no Ax) from the same
initial design: the reference for what Ax's pipeline costs.

Prints the median and range over seeds of the hypervolume ratio (observed HV /
max HV) after 20, 40 and 50 evaluations. ``--noise 0.08`` multiplies the second
objective by (1 + 0.08 N(0,1)) before the optimiser sees it (ECOpt is told that
relative spread, as a calibrated meter would) and scores the noise-free values of
the points chosen. ``--timing`` prints the optimiser's seconds per candidate at
~50 and ~200 observations on the 6-D problem, rebuild from stored trials included.

Usage: python benchmarks/mobo.py [--problems branin_currin dtlz2] [--seeds 5] [--methods ...]
                                 [--noise 0.08] [--timing] [--json results.json] [--search KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import yaml

BUDGET, N_INIT, CHECKPOINTS = 50, 10, (20, 40, 50)
METHODS = ("ecopt_q1", "ecopt_q4", "optuna_tpe", "optuna_nsga2", "optuna_gp", "sobol")
# Not run by default: a plain BoTorch loop (no Ax) from ECOpt's initial design, to tell
# what Ax's pipeline costs from what batching itself costs.
EXTRA_METHODS = ("botorch_q1", "botorch_q4")


def make_problem(name: str) -> tuple[Any, int]:
    from botorch.test_functions.multi_objective import DTLZ2, BraninCurrin

    if name == "branin_currin":
        problem = BraninCurrin(negate=True)
    elif name == "dtlz2":
        problem = DTLZ2(dim=6, num_objectives=2, negate=True)
    else:
        raise SystemExit(f"unknown problem {name!r}")
    return problem, problem.dim


def evaluator(problem: Any, noise: float, rng: np.random.Generator) -> tuple[Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """Returns f(x) -> (observed, true) and the list of true values in evaluation order."""
    import torch

    lower, upper = (b.numpy() for b in problem.bounds)
    truth: list[np.ndarray] = []

    def evaluate(unit_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = lower + np.asarray(unit_x, dtype=float) * (upper - lower)
        true = problem(torch.tensor(x[None, :], dtype=torch.double))[0].numpy()
        observed = true.copy()
        if noise > 0:
            observed[1] = true[1] * (1 + noise * rng.standard_normal())
        truth.append(true)
        return observed, true

    return evaluate, truth


SEARCH_SETTINGS: dict[str, Any] = {}  # --search KEY=VALUE: ECOpt's search settings


def run_ecopt(problem: Any, dim: int, seed: int, q: int, noise: float) -> list[np.ndarray]:
    from ecopt.function_api import optimize
    from ecopt.hyperparameter import Range

    evaluate, truth = evaluator(problem, noise, np.random.default_rng(seed + 10_000))
    reference = problem.ref_point.numpy()
    space = {f"x{i}": Range(0.5, 0.0, 1.0) for i in range(dim)}
    objectives = {f"f{j}": {"metric": f"f{j}", "threshold": float(reference[j])} for j in range(2)}

    def fn(params: dict[str, float]) -> dict[str, float]:
        observed, _ = evaluate(np.array([params[f"x{i}"] for i in range(dim)]))
        return {"f0": float(observed[0]), "f1": float(observed[1])}

    optimize(
        fn,
        space,
        objectives,
        n_init=N_INIT,
        rounds=(BUDGET - N_INIT) // q,
        batch_size=q,
        seed=seed,
        noise_rsd={"f1": noise} if noise > 0 else None,
        settings=SEARCH_SETTINGS,
    )
    return truth


def run_sobol(problem: Any, dim: int, seed: int, noise: float) -> list[np.ndarray]:
    from ecopt.hyperparameter import Range
    from ecopt.objectives import parse_objectives
    from ecopt.search import propose
    from ecopt.settings import validate_section

    evaluate, truth = evaluator(problem, noise, np.random.default_rng(seed + 10_000))
    space = {f"x{i}": Range(0.5, 0.0, 1.0) for i in range(dim)}
    design = propose(0, [], space, parse_objectives(["f0", "f1"]), validate_section("search", {"initial_trials": BUDGET}), seed=seed, keep_state=False)
    for params in design.proposals:
        evaluate(np.array([params[f"x{i}"] for i in range(dim)]))
    return truth


def run_botorch(problem: Any, dim: int, seed: int, q: int, noise: float) -> list[np.ndarray]:
    """BoTorch's tutorial loop: one GP per objective, qLogNEHVI, 20 restarts / 1024 raw samples, sequential greedy."""
    import torch
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.models.transforms import Standardize
    from botorch.optim import optimize_acqf
    from botorch.sampling import SobolQMCNormalSampler
    from gpytorch.mlls import SumMarginalLogLikelihood

    from ecopt.hyperparameter import Range
    from ecopt.objectives import parse_objectives
    from ecopt.search import propose
    from ecopt.settings import validate_section

    torch.manual_seed(seed)
    evaluate, truth = evaluator(problem, noise, np.random.default_rng(seed + 10_000))
    space = {f"x{i}": Range(0.5, 0.0, 1.0) for i in range(dim)}
    design = propose(0, [], space, parse_objectives(["f0", "f1"]), validate_section("search", {"initial_trials": N_INIT}), seed=seed, keep_state=False)
    x = [np.array([params[f"x{i}"] for i in range(dim)]) for params in design.proposals]
    y = [evaluate(row)[0] for row in x]
    bounds = torch.stack([torch.zeros(dim, dtype=torch.double), torch.ones(dim, dtype=torch.double)])
    while len(x) < BUDGET:
        train_x, train_y = torch.tensor(np.array(x)), torch.tensor(np.array(y))
        model = ModelListGP(*[SingleTaskGP(train_x, train_y[:, j : j + 1], outcome_transform=Standardize(m=1)) for j in range(2)])
        fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))
        acquisition = qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=problem.ref_point.tolist(),
            X_baseline=train_x,
            prune_baseline=True,
            sampler=SobolQMCNormalSampler(torch.Size([128])),
        )
        candidates, _ = optimize_acqf(acquisition, bounds=bounds, q=min(q, BUDGET - len(x)), num_restarts=20, raw_samples=1024, sequential=True)
        for row in candidates.numpy():
            x.append(row)
            y.append(evaluate(row)[0])
    return truth


def run_optuna(problem: Any, dim: int, seed: int, sampler_name: str, noise: float) -> list[np.ndarray]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluate, truth = evaluator(problem, noise, np.random.default_rng(seed + 10_000))
    if sampler_name == "optuna_tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_INIT)
    elif sampler_name == "optuna_nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=N_INIT)
    else:
        sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=N_INIT)
    study = optuna.create_study(directions=["maximize", "maximize"], sampler=sampler)

    def objective(trial: Any) -> tuple[float, float]:
        observed, _ = evaluate(np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(dim)]))
        return float(observed[0]), float(observed[1])

    study.optimize(objective, n_trials=BUDGET)
    return truth


def hv_ratios(truth: list[np.ndarray], problem: Any) -> list[float]:
    from ecopt.frontier import hypervolume

    values = np.array(truth)
    reference = problem.ref_point.numpy()
    return [hypervolume(values[:n], reference, [False, False]) / problem.max_hv for n in CHECKPOINTS]


def run_method(method: str, problem: Any, dim: int, seed: int, noise: float) -> list[np.ndarray]:
    if method == "ecopt_q1":
        return run_ecopt(problem, dim, seed, 1, noise)
    if method == "ecopt_q4":
        return run_ecopt(problem, dim, seed, 4, noise)
    if method == "sobol":
        return run_sobol(problem, dim, seed, noise)
    if method.startswith("botorch_q"):
        return run_botorch(problem, dim, seed, int(method.removeprefix("botorch_q")), noise)
    return run_optuna(problem, dim, seed, method, noise)


def timing(repeats: int = 2) -> list[dict[str, Any]]:
    """Seconds per candidate with N stored trials on DTLZ2 (6-D), fresh state each time."""
    from ecopt.hyperparameter import Range
    from ecopt.search import propose
    from ecopt.settings import validate_section

    problem, dim = make_problem("dtlz2")
    rng = np.random.default_rng(0)
    space = {f"x{i}": Range(0.5, 0.0, 1.0) for i in range(dim)}
    objectives_config = {f"f{j}": {"metric": f"f{j}", "threshold": -1.1} for j in range(2)}
    from ecopt.objectives import parse_objectives

    objectives = parse_objectives(objectives_config)
    rows = []
    for observations in (50, 200):
        # Half the history near the Pareto set (as after a productive search), half spread out.
        x = rng.random((observations, dim))
        x[: observations // 2, 1:] = 0.5 + 0.05 * rng.standard_normal((observations // 2, dim - 1))
        x = np.clip(x, 0, 1)
        evaluate, _ = evaluator(problem, 0.0, rng)
        history = []
        for index, row in enumerate(x):
            _, true = evaluate(row)
            history.append(
                {"params": {f"x{i}": float(row[i]) for i in range(dim)}, "status": "completed", "f0": float(true[0]), "f1": float(true[1]), "index": index}
            )
        for q in (1, 4):
            for repeat in range(repeats):
                result = propose(1, history, space, objectives, validate_section("search", {**SEARCH_SETTINGS, "batch_size": q}), seed=repeat, keep_state=False)
                rows.append({"observations": observations, "q": q, "repeat": repeat, **result.seconds, "per_candidate": result.seconds["total"] / q})
                print(
                    f"  {observations} observations, q={q}: {result.seconds['total']:.2f} s total "
                    f"(rebuild {result.seconds['rebuild']:.2f} s, generate {result.seconds['generate']:.2f} s) "
                    f"= {result.seconds['total'] / q:.2f} s per candidate",
                    flush=True,
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="*", default=["branin_currin", "dtlz2"], help="none: only --timing")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS + EXTRA_METHODS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.0, help="relative noise on the second objective")
    parser.add_argument("--timing", action="store_true", help="also time the optimiser at ~50 and ~200 observations")
    parser.add_argument("--json", default=None, help="write every run's figures here")
    parser.add_argument("--search", nargs="*", default=[], metavar="KEY=VALUE", help="ECOpt search settings, e.g. batch_fill=qlognehvi")
    args = parser.parse_args()
    for item in args.search:
        key, _, value = item.partition("=")
        if not value:
            parser.error(f"--search {item!r}: expected KEY=VALUE")
        SEARCH_SETTINGS[key] = yaml.safe_load(value)  # as in a config file: 128 -> int, 0.2 -> float, names stay strings

    results: list[dict[str, Any]] = []
    for problem_name in args.problems:
        problem, dim = make_problem(problem_name)
        print(f"\n{problem_name} ({dim}-D), noise {args.noise:.0%} on f1, {BUDGET} evaluations, {args.seeds} seeds", flush=True)
        for method in args.methods:
            ratios, seconds = [], []
            for seed in range(args.seeds):
                started = time.perf_counter()
                truth = run_method(method, problem, dim, seed, args.noise)
                seconds.append(time.perf_counter() - started)
                ratios.append(hv_ratios(truth, problem))
                results.append(
                    {
                        "problem": problem_name,
                        "method": method,
                        "seed": seed,
                        "noise": args.noise,
                        "hv_ratio": dict(zip(CHECKPOINTS, ratios[-1], strict=True)),
                        "seconds": seconds[-1],
                    }
                )
            columns = []
            for position, checkpoint in enumerate(CHECKPOINTS):
                at = [r[position] for r in ratios]
                columns.append(f"@{checkpoint}: {statistics.median(at):.3f} [{min(at):.3f}, {max(at):.3f}]")
            print(f"  {method:13s} HV ratio median [range]  " + "  ".join(columns) + f"   ({statistics.mean(seconds):.0f} s/run)", flush=True)
    if args.timing:
        print("\noptimiser seconds per candidate, DTLZ2 6-D, state rebuilt from stored trials:", flush=True)
        results.append({"timing": timing()})
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(results, stream, indent=1)


if __name__ == "__main__":
    main()
