import json
import math
import subprocess
import sys

import numpy as np
import pytest

from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, Fixed, Range, ValueType
from ecopt.objectives import Objective, parse_objectives
from ecopt.search import choose_reference_point, load_state, optimize, propose
from ecopt.settings import validate_section

pytestmark = pytest.mark.slow  # Ax imports and GP fits

SPACE = {
    "width": Range(8, 2, 64, log_scale=True, value_type=ValueType.INT),
    "rate": Range(0.01, 1e-4, 1e-1, log_scale=True),
    "depth": Range(2, 1, 4, value_type=ValueType.INT),
    "kernel": Choice(3, [1, 3, 5], value_type=ValueType.INT),
    "activation": Choice("relu", ["relu", "gelu", "tanh"], is_ordered=False),
    "pooling": Choice(False, [False, True]),
    "padding": Fixed("same"),
}
OBJECTIVES = parse_objectives(None)  # performance (linear) and samples_per_joule (log10)
SETTINGS = validate_section("search", {"initial_trials": 6, "batch_size": 3, "num_restarts": 4, "raw_samples": 64})


def check_in_space(params):
    assert set(params) == set(SPACE)
    assert isinstance(params["width"], int) and 2 <= params["width"] <= 64
    assert isinstance(params["rate"], float) and 1e-4 <= params["rate"] <= 1e-1
    assert isinstance(params["depth"], int) and 1 <= params["depth"] <= 4
    assert params["kernel"] in (1, 3, 5) and params["activation"] in ("relu", "gelu", "tanh")
    assert isinstance(params["pooling"], bool)
    assert params["padding"] == "same"


def synthetic_record(params, index, status="completed"):
    """A trade-off: wider and deeper is more accurate and less efficient."""
    size = math.log2(params["width"]) * params["depth"]
    record = {"params": params, "status": status, "round": 0, "index": index}
    if status == "completed":
        record["performance"] = 1 - 1 / (1 + size) + 0.01 * params["kernel"]
        record["samples_per_joule"] = 1e5 / (1 + size) ** 2
    elif status == "out_of_memory":
        record.update(performance=None, samples_per_joule=0.0)
    return record


def sobol_history(seed=0, statuses=None):
    design = propose(0, [], SPACE, OBJECTIVES, SETTINGS, seed=seed)
    statuses = statuses or ["completed"] * len(design.proposals)
    return design, [synthetic_record(p, i, s) for i, (p, s) in enumerate(zip(design.proposals, statuses))]


def test_round_zero_is_a_seeded_sobol_design_inside_the_space():
    design = propose(0, [], SPACE, OBJECTIVES, SETTINGS, seed=7)
    assert design.generator == "sobol" and len(design.proposals) == 6
    for params in design.proposals:
        check_in_space(params)
    assert len({json.dumps(p, sort_keys=True) for p in design.proposals}) == 6
    again = propose(0, [], SPACE, OBJECTIVES, SETTINGS, seed=7)
    other = propose(0, [], SPACE, OBJECTIVES, SETTINGS, seed=8)
    assert again.proposals == design.proposals and other.proposals != design.proposals


def test_baseline_configurations_lead_round_zero_and_count_in_it():
    settings = validate_section("search", {**SETTINGS.to_dict(), "baseline": [{"width": 2, "rate": 0.001, "depth": 1, "kernel": 1, "activation": "tanh", "pooling": True}]})
    design = propose(0, [], SPACE, OBJECTIVES, settings, seed=7)
    assert len(design.proposals) == 6  # initial_trials, baseline included
    assert design.proposals[0] == {"width": 2, "rate": 0.001, "depth": 1, "kernel": 1, "activation": "tanh", "pooling": True, "padding": "same"}
    for params in design.proposals[1:]:
        check_in_space(params)
    with pytest.raises(ConfigError) as caught:
        propose(0, [], SPACE, OBJECTIVES, validate_section("search", {**SETTINGS.to_dict(), "baseline": [{"width": 1000}]}))
    assert caught.value.key == "search.baseline[0]"
    with pytest.raises(ConfigError, match="at most initial_trials"):
        validate_section("search", {"initial_trials": 1, "baseline": [{"width": 2}, {"width": 4}]})


def test_mobo_round_proposes_a_batch_deterministically():
    _, history = sobol_history()
    first = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert first.generator == "qLogNEHVI (candidate 1), posterior-mean hypervolume improvement (candidates 2-3)"
    assert len(first.proposals) == 3 and len({json.dumps(p, sort_keys=True) for p in first.proposals}) == 3
    for params in first.proposals:
        check_in_space(params)
    assert first.reference_point["source"].startswith("inferred")
    assert first.history == {"completed": 6, "out_of_memory": 0, "failed": 0, "total": 6}
    assert first.noise["efficiency"] == {"source": "inferred by the GP"}
    again = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert again.proposals == first.proposals  # same seed, same history, same proposals


def test_failed_and_out_of_memory_trials_do_not_stop_the_search():
    statuses = ["completed", "failed", "out_of_memory", "completed", "completed", "failed"]
    _, history = sobol_history(statuses=statuses)
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert len(result.proposals) == 3
    assert result.history == {"completed": 3, "out_of_memory": 1, "failed": 2, "total": 6}
    client = load_state_from(result)
    data = client._experiment.lookup_data().df
    completed = [0, 3, 4]
    efficiency = data[data.metric_name == "efficiency"].set_index("trial_index")["mean"]
    performance = data[data.metric_name == "performance"].set_index("trial_index")["mean"]
    # OOM: efficiency ten times worse than the worst completed (log10), no performance.
    assert efficiency[2] == pytest.approx(efficiency[completed].min() - 1.0)
    assert data[data.trial_index == 2].metric_name.tolist() == ["efficiency"]
    # failed: observed as worse than every completed trial in both objectives.
    for failed in (1, 5):
        assert efficiency[failed] < efficiency[completed].min() and performance[failed] < performance[completed].min()
    statuses = [trial.status.name for trial in client._experiment.trials.values()]
    assert statuses[:6].count("COMPLETED") == 6

    ignoring = propose(1, history, SPACE, OBJECTIVES, validate_section("search", {**SETTINGS.to_dict(), "failed_trials": "ignore"}), seed=0)
    statuses = [trial.status.name for trial in load_state_from(ignoring)._experiment.trials.values()]
    assert statuses[:6].count("FAILED") == 2 and statuses[:6].count("COMPLETED") == 4


def test_all_failed_falls_back_to_sobol():
    _, history = sobol_history(statuses=["failed"] * 6)
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert result.generator.startswith("sobol") and len(result.proposals) == 3


def load_state_from(result, tmp_path=None):
    import tempfile

    from ecopt.io import write_json

    folder = tempfile.mkdtemp()
    path = f"{folder}/experiment.json"
    write_json(path, result.state)
    return load_state(path)


def test_saved_state_reloads_with_history_and_pending_proposals():
    _, history = sobol_history()
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    client = load_state_from(result)
    trials = client._experiment.trials
    assert len(trials) == 6 + 3
    pending = [trials[i].arm.parameters for i in range(6, 9)]
    assert pending == [{k: v for k, v in p.items() if k != "padding"} for p in result.proposals]
    assert client._experiment.optimization_config.objective.metric_names == ["performance", "efficiency"]


def test_calibrated_noise_becomes_the_standard_error():
    _, history = sobol_history()
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0, noise_rsd={"efficiency": 0.08})
    assert result.noise["efficiency"] == {"source": "meter calibration", "relative_sd": 0.08}
    data = load_state_from(result)._experiment.lookup_data().df
    sems = data[data.metric_name == "efficiency"]["sem"]
    assert np.allclose(sems, 0.08 / math.log(10))
    assert data[data.metric_name == "performance"]["sem"].isna().all()


def test_params_outside_the_space_are_a_clear_error():
    _, history = sobol_history()
    history[0]["params"]["width"] = 1000
    history[0]["path"] = "results/s/rounds/000/trials/0.json"
    with pytest.raises(ValueError, match=r"rounds/000/trials/0.json: params do not fit"):
        propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)


def test_reference_point_rules():
    objectives = [Objective("a", "a", threshold=0.5), Objective("b", "b", minimize=True, threshold=10.0)]
    completed = np.array([[0.9, 5.0], [0.6, 2.0], [0.2, 1.0]])
    chosen = choose_reference_point(completed, objectives, 0.1)
    assert chosen == {"values": [0.5, 10.0], "source": "config thresholds"}
    # Nothing dominates (0.95, 0.5) yet: infer from the front (a: 0.2..0.9, b: 1..5), never feasibility search.
    strict = [Objective("a", "a", threshold=0.95), Objective("b", "b", minimize=True, threshold=0.5)]
    chosen = choose_reference_point(completed, strict, 0.1)
    assert chosen["source"].startswith("inferred: no observation dominates")
    assert chosen["values"] == pytest.approx([0.2 - 0.07, 5.0 + 0.4])
    assert choose_reference_point(np.zeros((0, 2)), objectives, 0.1) is None


def test_winsorization_levels_lie_beyond_the_reference_point():
    from ecopt.search import winsorization_levels

    objectives = [Objective("a", "a"), Objective("b", "b", minimize=True)]
    completed = np.array([[0.9, 5.0], [0.6, 2.0], [0.2, 1.0], [-40.0, 900.0]])
    # a: best 0.9, reference 0.5 -> 0.5 - 5 * 0.4; b (minimised): best 1, reference 10 -> 10 + 5 * 9.
    levels = winsorization_levels(completed, objectives, [0.5, 10.0], 5.0)
    assert levels == pytest.approx({"a": -1.5, "b": 55.0})
    assert winsorization_levels(completed, objectives, [0.5, 10.0], 0.0) == {}
    # Only one observation reaches a's level: clipping would flatten every other one, so none.
    assert set(winsorization_levels(completed, objectives, [0.85, 10.0], 0.5)) == {"b"}


def test_a_round_clips_outliers_before_the_gp_sees_them(monkeypatch):
    import ecopt.search as search

    _, history = sobol_history()
    history[0]["samples_per_joule"] = 1e-30  # 30+ decades below the rest: a broken measurement
    strategies = []
    original = search._generate
    monkeypatch.setattr(search, "_generate", lambda strategy, *args: strategies.append(strategy) or original(strategy, *args))
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    clipped = result.to_dict()["winsorized"]
    assert clipped["efficiency"]["clipped"] == 1 and clipped["efficiency"]["level"] > -30
    assert "performance" not in clipped or clipped["performance"]["clipped"] == 0
    # Ax's Winsorize transform clips at exactly that level (a quantile setting makes its boundary the cutoff).
    cutoffs = strategies[0].adapter.transforms["Winsorize"].cutoffs
    assert cutoffs[next(iter(k for k in cutoffs if k.startswith("efficiency")))][0] == pytest.approx(clipped["efficiency"]["level"])
    for params in result.proposals:
        check_in_space(params)
    off = propose(1, history, SPACE, OBJECTIVES, validate_section("search", {**SETTINGS.to_dict(), "winsorize": 0}), seed=0)
    assert off.winsorized == {}


def test_the_gp_fit_stops_at_the_iteration_cap():
    import torch
    from ax.generators.torch.botorch_modular.utils import fit_botorch_model
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from ecopt.search import _capped_fit_gp_class

    generator = torch.Generator().manual_seed(0)
    train_x = torch.rand(30, 3, generator=generator, dtype=torch.double)
    train_y = (torch.sin(6 * train_x).sum(-1, keepdim=True) + 0.05 * torch.randn(30, 1, generator=generator, dtype=torch.double))

    def fitted_mll(iterations):
        model = _capped_fit_gp_class()(train_x, train_y)
        fit_botorch_model(model, mll_class=ExactMarginalLogLikelihood, mll_options={"fit_max_iterations": iterations})
        mll = ExactMarginalLogLikelihood(model.likelihood, model).train()
        with torch.no_grad():
            return mll(model(train_x), model.train_targets).item()

    converged = fitted_mll(500)
    assert fitted_mll(1) < converged - 0.02  # one step is not enough: the cap reached the optimiser
    assert fitted_mll(50) == pytest.approx(converged, abs=1e-3)


@pytest.mark.parametrize(
    "section, key",
    [({"batch_size": 0}, "search.batch_size"), ({"failed_trials": "drop"}, "search.failed_trials"), ({"rounds": 1.5}, "search.rounds"), ({"reference_margin": 2}, "search.reference_margin"), ({"q": 4}, "search.q"),
     ({"baseline": {"width": 2}}, "search.baseline"), ({"mc_samples": 0}, "search.mc_samples"),
     ({"lengthscale_prior": "short"}, "search.lengthscale_prior"), ({"batch_fill": "greedy"}, "search.batch_fill"),
     ({"winsorize": -1}, "search.winsorize"), ({"winsorize": "yes"}, "search.winsorize"), ({"fit_max_iterations": -5}, "search.fit_max_iterations")],
)
def test_bad_search_settings_name_the_key(section, key):
    with pytest.raises(ConfigError) as caught:
        validate_section("search", section)
    assert caught.value.key == key


def test_an_all_fixed_space_is_a_config_error():
    with pytest.raises(ConfigError, match="at least one range or choice"):
        propose(0, [], {"padding": Fixed("same")}, OBJECTIVES, SETTINGS)


def test_optimize_a_plain_function():
    def fn(params):
        if params["x"] > 0.95:
            raise RuntimeError("diverged")
        return {"f0": params["x"], "f1": 1 - params["x"] ** 2}

    result = optimize(fn, {"x": {"type": "range", "bounds": [0.0, 1.0]}}, ["f0", "f1"], n_init=5, rounds=2, batch_size=2, seed=1,
                      settings={"num_restarts": 4, "raw_samples": 64})
    assert len(result.trials) == 9 and len(result.rounds) == 3
    assert all(t["status"] in ("completed", "failed") for t in result.trials)
    assert all(t["f1"] == pytest.approx(1 - t["f0"] ** 2) for t in result.trials if t["status"] == "completed")
    # f0 up, f1 down along x: every completed point is on the frontier.
    assert len(result.frontier) == sum(t["status"] == "completed" for t in result.trials)


def test_cli_rounds_write_proposals_and_state(tmp_path, python_env):
    config = tmp_path / "study.yaml"
    config.write_text(
        "adapter: ecopt.adapters.cnn:CNNClassifier\nseed: 3\n"
        "space:\n  width: {type: range, bounds: [2, 64], value_type: int, log_scale: true}\n"
        "  depth: {type: range, bounds: [1, 3], value_type: int}\n  padding: {type: fixed, value: same}\n"
        "search: {initial_trials: 5, batch_size: 2, num_restarts: 4, raw_samples: 64}\n"
    )
    run = lambda *args: subprocess.run([sys.executable, "-m", "ecopt.search", "--config", str(config), *args],
                                       env=python_env, capture_output=True, text=True, timeout=300)
    result = run("--round", "0", "--out", str(tmp_path / "rounds/000/proposals.json"))
    assert result.returncode == 0, result.stderr
    proposals = json.loads((tmp_path / "rounds/000/proposals.json").read_text())
    assert proposals["generator"] == "sobol" and len(proposals["proposals"]) == 5
    trials = tmp_path / "rounds/000/trials"
    trials.mkdir()
    for entry in proposals["proposals"]:
        params = entry["params"]
        record = {"params": params, "status": "completed", "performance": params["depth"] / 3, "samples_per_joule": 1e4 / params["width"] / params["depth"]}
        (trials / f"{entry['index']}.json").write_text(json.dumps(record))
    calibration = tmp_path / "summary.json"
    calibration.write_text(json.dumps({"samples_per_joule_rsd": 0.05}))
    result = run("--round", "1", "--trials", str(trials), "--out", str(tmp_path / "rounds/001/proposals.json"),
                 "--state", str(tmp_path / "rounds/001/experiment.json"), "--calibration", str(calibration))
    assert result.returncode == 0, result.stderr
    round_one = json.loads((tmp_path / "rounds/001/proposals.json").read_text())
    assert round_one["generator"] == "qLogNEHVI (candidate 1), posterior-mean hypervolume improvement (candidate 2)" and len(round_one["proposals"]) == 2
    assert round_one["noise"]["efficiency"]["relative_sd"] == 0.05
    assert round_one["seconds"]["total"] > 0
    assert len(load_state(tmp_path / "rounds/001/experiment.json")._experiment.trials) == 7

    config.write_text("adapter: ecopt.adapters.cnn:CNNClassifier\nobjectives: {performance: {minimise: true}, efficiency: {}}\nspace: {w: {type: range, bounds: [1, 2]}}\n")
    result = run("--round", "0", "--out", str(tmp_path / "bad.json"))
    assert result.returncode == 2 and "objectives.performance.minimise" in result.stderr
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.parametrize("prior, kernel, prior_class", [("gamma", "MaternKernel", "GammaPrior"), ("dimension_scaled", "RBFKernel", "LogNormalPrior")])
def test_the_round_reports_the_fitted_surrogate_and_its_configured_prior(prior, kernel, prior_class):
    _, history = sobol_history()
    settings = validate_section("search", {**SETTINGS.to_dict(), "lengthscale_prior": prior})
    result = propose(1, history, SPACE, OBJECTIVES, settings, seed=0)
    model = result.to_dict()["model"]
    assert (model["kernel"], model["lengthscale_prior"]) == (kernel, prior_class)
    assert set(model["lengthscales"]) == {"performance", "efficiency"}
    # Every searched parameter has a lengthscale (one per one-hot column for the unordered choice).
    features = model["lengthscales"]["efficiency"]
    assert {"width", "rate", "depth", "kernel", "pooling"} <= set(features) and len(features) == 5 + 3
    assert all(value > 0 for value in features.values())
    assert (model["model_class"], model["fit_max_iterations"]) == ("SingleTaskGPCappedFit", 60)
    uncapped = propose(1, history, SPACE, OBJECTIVES, validate_section("search", {**settings.to_dict(), "fit_max_iterations": 0}), seed=0).model
    assert (uncapped["model_class"], uncapped["fit_max_iterations"]) == ("SingleTaskGP", None)


def test_batch_fill_qlognehvi_is_one_sequential_greedy_batch():
    _, history = sobol_history()
    result = propose(1, history, SPACE, OBJECTIVES, validate_section("search", {**SETTINGS.to_dict(), "batch_fill": "qlognehvi"}), seed=0)
    assert result.generator == "qLogNEHVI" and len(result.proposals) == 3
    for params in result.proposals:
        check_in_space(params)


def test_posterior_mean_hvi_is_the_hypervolume_improvement_of_the_model_mean():
    import torch
    from botorch.models import ModelListGP, SingleTaskGP

    from ecopt.frontier import hypervolume
    from ecopt.search import _posterior_mean_hvi_class

    generator = torch.Generator().manual_seed(0)
    train_x = torch.rand(12, 2, generator=generator, dtype=torch.double)
    train_y = torch.stack([train_x.sum(-1), (1 - train_x).prod(-1)], -1)
    model = ModelListGP(*[SingleTaskGP(train_x, train_y[:, j : j + 1]) for j in range(2)]).eval()
    reference = [0.0, 0.0]
    acquisition = _posterior_mean_hvi_class()(model=model, ref_point=reference, X_baseline=train_x)
    with torch.no_grad():
        mean_front = model.posterior(train_x).mean.numpy()
        for _ in range(3):
            candidates = torch.rand(2, 2, generator=generator, dtype=torch.double)  # a batch of q = 2
            expected = hypervolume(np.vstack([mean_front, model.posterior(candidates).mean.numpy()]), reference, [False, False]) - hypervolume(mean_front, reference, [False, False])
            got = math.exp(acquisition(candidates[None]).item())
            assert got == pytest.approx(expected, rel=0.02, abs=1e-5)
