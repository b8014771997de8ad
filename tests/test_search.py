import json
import math
import subprocess
import sys

import numpy as np
import pytest

from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, Fixed, Range, ValueType
from ecopt.objectives import parse_objectives
from ecopt.search import load_state, propose
from ecopt.settings import validate_section

slow = pytest.mark.slow  # Ax imports and GP fits

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
    return design, [synthetic_record(p, i, s) for i, (p, s) in enumerate(zip(design.proposals, statuses, strict=True))]


@slow
def test_round_zero_is_a_seeded_sobol_design_inside_the_space():
    design = propose(0, [], SPACE, OBJECTIVES, SETTINGS, seed=7)
    assert design.generator == "sobol" and len(design.proposals) == 6
    for params in design.proposals:
        check_in_space(params)
    assert len({json.dumps(p, sort_keys=True) for p in design.proposals}) == 6
    again = propose(0, [], SPACE, OBJECTIVES, SETTINGS, seed=7)
    other = propose(0, [], SPACE, OBJECTIVES, SETTINGS, seed=8)
    assert again.proposals == design.proposals and other.proposals != design.proposals


@slow
def test_baseline_configurations_lead_round_zero_and_count_in_it():
    settings = validate_section(
        "search", {**SETTINGS.to_dict(), "baseline": [{"width": 2, "rate": 0.001, "depth": 1, "kernel": 1, "activation": "tanh", "pooling": True}]}
    )
    design = propose(0, [], SPACE, OBJECTIVES, settings, seed=7)
    assert len(design.proposals) == 6  # initial_trials, baseline included
    assert design.proposals[0] == {"width": 2, "rate": 0.001, "depth": 1, "kernel": 1, "activation": "tanh", "pooling": True, "padding": "same"}
    for params in design.proposals[1:]:
        check_in_space(params)
    with pytest.raises(ConfigError) as caught:
        propose(0, [], SPACE, OBJECTIVES, validate_section("search", {**SETTINGS.to_dict(), "baseline": [{"width": 1000}]}))
    assert caught.value.key == "search.baseline[0]"
    with pytest.raises(ConfigError, match=r"at most search\.initial_trials \(1\)"):
        validate_section("search", {"initial_trials": 1, "baseline": [{"width": 2}, {"width": 4}]})


@slow
def test_mobo_round_proposes_a_batch_deterministically():
    _, history = sobol_history()
    first = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert first.generator == "qLogNEHVI (candidate 1), posterior-mean hypervolume improvement (candidates 2-3)"
    assert len(first.proposals) == 3 and len({json.dumps(p, sort_keys=True) for p in first.proposals}) == 3
    for params in first.proposals:
        check_in_space(params)
    assert first.reference_point["source"].startswith("inferred")
    assert first.history == {"completed": 6, "early_stopped": 0, "out_of_memory": 0, "failed": 0, "measurement_failed": 0, "total": 6}
    assert first.noise["efficiency"] == {"source": "inferred by the GP"}
    again = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert again.proposals == first.proposals  # same seed, same history, same proposals


@slow
def test_failed_and_out_of_memory_trials_do_not_stop_the_search():
    statuses = ["completed", "failed", "out_of_memory", "completed", "completed", "failed"]
    _, history = sobol_history(statuses=statuses)
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert len(result.proposals) == 3
    assert result.history == {"completed": 3, "early_stopped": 0, "out_of_memory": 1, "failed": 2, "measurement_failed": 0, "total": 6}
    client = load_state_from(result)
    data = client._experiment.lookup_data().df
    completed = [0, 3, 4]
    efficiency = data[data.metric_name == "efficiency"].set_index("trial_index")["mean"]
    performance = data[data.metric_name == "performance"].set_index("trial_index")["mean"]
    # Out of memory and failed: the worst value in every objective (ecopt.history.worst_values):
    # efficiency ten times worse than the worst completed (log10), performance below every completed one.
    for worst in (1, 2, 5):
        assert efficiency[worst] == pytest.approx(efficiency[completed].min() - 1.0)
        assert performance[worst] < performance[completed].min()
    statuses = [trial.status.name for trial in client._experiment.trials.values()]
    assert statuses[:6].count("COMPLETED") == 6

    ignoring = propose(1, history, SPACE, OBJECTIVES, validate_section("search", {**SETTINGS.to_dict(), "failed_trials": "ignore"}), seed=0)
    statuses = [trial.status.name for trial in load_state_from(ignoring)._experiment.trials.values()]
    assert statuses[:6].count("FAILED") == 2 and statuses[:6].count("COMPLETED") == 4


@slow
def test_all_failed_falls_back_to_sobol():
    _, history = sobol_history(statuses=["failed"] * 6)
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert result.generator.startswith("sobol") and len(result.proposals) == 3


def load_state_from(result):
    import tempfile

    path = f"{tempfile.mkdtemp()}/experiment.json"
    result.save_state(path)
    return load_state(path)


@slow
def test_saved_state_reloads_with_history_and_pending_proposals():
    _, history = sobol_history()
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    client = load_state_from(result)
    trials = client._experiment.trials
    assert len(trials) == 6 + 3
    pending = [trials[i].arm.parameters for i in range(6, 9)]
    assert pending == [{k: v for k, v in p.items() if k != "padding"} for p in result.proposals]
    assert client._experiment.optimization_config.objective.metric_names == ["performance", "efficiency"]


@slow
def test_calibrated_noise_becomes_the_standard_error():
    _, history = sobol_history()
    result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0, noise_rsd={"efficiency": 0.08})
    assert result.noise["efficiency"] == {"source": "meter calibration", "relative_sd": 0.08}
    data = load_state_from(result)._experiment.lookup_data().df
    sems = data[data.metric_name == "efficiency"]["sem"]
    assert np.allclose(sems, 0.08 / math.log(10))
    assert data[data.metric_name == "performance"]["sem"].isna().all()


@slow
def test_a_round_clips_outliers_before_the_gp_sees_them(monkeypatch):
    import ecopt.ax_backend as ax_backend

    _, history = sobol_history()
    history[0]["samples_per_joule"] = 1e-30  # 30+ decades below the rest: a broken measurement
    strategies = []
    original = ax_backend.generate
    monkeypatch.setattr(ax_backend, "generate", lambda strategy, *args: strategies.append(strategy) or original(strategy, *args))
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


@pytest.mark.parametrize(
    "section, key",
    [
        ({"batch_size": 0}, "search.batch_size"),
        ({"failed_trials": "drop"}, "search.failed_trials"),
        ({"rounds": 1.5}, "search.rounds"),
        ({"reference_margin": 2}, "search.reference_margin"),
        ({"q": 4}, "search.q"),
        ({"baseline": {"width": 2}}, "search.baseline"),
        ({"mc_samples": 0}, "search.mc_samples"),
        ({"lengthscale_prior": "short"}, "search.lengthscale_prior"),
        ({"batch_fill": "greedy"}, "search.batch_fill"),
        ({"winsorize": -1}, "search.winsorize"),
        ({"winsorize": "yes"}, "search.winsorize"),
        ({"fit_max_iterations": -5}, "search.fit_max_iterations"),
    ],
)
def test_bad_search_settings_name_the_key(section, key):
    with pytest.raises(ConfigError) as caught:
        validate_section("search", section)
    assert caught.value.key == key


@slow
def test_an_all_fixed_space_is_a_config_error():
    with pytest.raises(ConfigError, match="at least one range or choice"):
        propose(0, [], {"padding": Fixed("same")}, OBJECTIVES, SETTINGS)


@slow
def test_cli_rounds_write_proposals_and_state(tmp_path, python_env):
    config = tmp_path / "study.yaml"
    config.write_text(
        "adapter: ecopt.adapters.cnn:CNNClassifier\nseed: 3\n"
        "space:\n  width: {type: range, bounds: [2, 64], value_type: int, log_scale: true}\n"
        "  depth: {type: range, bounds: [1, 3], value_type: int}\n  padding: {type: fixed, value: same}\n"
        "search: {initial_trials: 5, batch_size: 2, num_restarts: 4, raw_samples: 64}\n"
    )
    run = lambda *args: subprocess.run(
        [sys.executable, "-m", "ecopt.search", "--config", str(config), *args], env=python_env, capture_output=True, text=True, timeout=300
    )
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
    result = run(
        "--round",
        "1",
        "--trials",
        str(trials),
        "--out",
        str(tmp_path / "rounds/001/proposals.json"),
        "--state",
        str(tmp_path / "rounds/001/experiment.json"),
        "--calibration",
        str(calibration),
    )
    assert result.returncode == 0, result.stderr
    round_one = json.loads((tmp_path / "rounds/001/proposals.json").read_text())
    assert round_one["generator"] == "qLogNEHVI (candidate 1), posterior-mean hypervolume improvement (candidate 2)" and len(round_one["proposals"]) == 2
    assert round_one["noise"]["efficiency"]["relative_sd"] == 0.05
    assert round_one["seconds"]["total"] > 0
    assert len(load_state(tmp_path / "rounds/001/experiment.json")._experiment.trials) == 7

    config.write_text(
        "adapter: ecopt.adapters.cnn:CNNClassifier\n"
        "objectives: {performance: {minimise: true}, efficiency: {}}\nspace: {width: {type: range, bounds: [1, 64]}}\n"
    )
    result = run("--round", "0", "--out", str(tmp_path / "bad.json"))
    assert result.returncode == 2 and "objectives.performance.minimise" in result.stderr
    assert not (tmp_path / "bad.json").exists()


def lifecycle_records(folder, proposals):
    """Stored records as a trial writes them: joules, no lifecycle_samples_per_joule (it is derived on read)."""
    folder.mkdir(parents=True)
    for index, params in enumerate(proposals):
        size = params["width"] * params["depth"]
        record = {"params": params, "status": "completed", "round": 0, "index": index, "performance": params["depth"] / 3}
        record.update(samples=1000, eval_joules=0.01 * size, train_joules=5.0 * size, samples_per_joule=1000 / (0.01 * size))
        (folder / f"{index}.json").write_text(json.dumps(record))
    return folder


@slow
def test_a_lifecycle_objective_drives_a_model_based_round(tmp_path):
    from ecopt.search import main

    study = {
        "seed": 3,
        "space": {"width": {"type": "range", "bounds": [2, 64], "value_type": "int"}, "depth": {"type": "range", "bounds": [1, 3], "value_type": "int"}},
        "objectives": {"performance": {}, "efficiency": {"metric": "lifecycle_samples_per_joule", "log_scale": True}},
        "search": {"initial_trials": 5, "batch_size": 2, "num_restarts": 2, "raw_samples": 32},
        "deployment": {"inferences": 10000},
    }
    settings = json.dumps(study)
    # round 0 reads no N (the workflow passes it none, so a new N reruns no round-0 trial): the same design without it
    without_n = json.dumps({key: value for key, value in study.items() if key != "deployment"})
    assert main(["--settings", without_n, "--round", "0", "--out", str(tmp_path / "0-without-n.json")]) == 0
    assert main(["--settings", settings, "--round", "0", "--out", str(tmp_path / "0.json")]) == 0
    design = [entry["params"] for entry in json.loads((tmp_path / "0.json").read_text())["proposals"]]
    assert design == [entry["params"] for entry in json.loads((tmp_path / "0-without-n.json").read_text())["proposals"]]
    trials = lifecycle_records(tmp_path / "trials", design)
    assert main(["--settings", settings, "--round", "1", "--trials", str(trials), "--out", str(tmp_path / "1.json")]) == 0
    round_one = json.loads((tmp_path / "1.json").read_text())
    # every stored record lacks the metric: without the derivation they would all count as failed (a Sobol fallback)
    assert round_one["generator"].startswith("qLogNEHVI") and round_one["history"]["completed"] == 5


@slow
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


@slow
def test_batch_fill_qlognehvi_is_one_sequential_greedy_batch():
    _, history = sobol_history()
    result = propose(1, history, SPACE, OBJECTIVES, validate_section("search", {**SETTINGS.to_dict(), "batch_fill": "qlognehvi"}), seed=0)
    assert result.generator == "qLogNEHVI" and len(result.proposals) == 3
    for params in result.proposals:
        check_in_space(params)


@slow
def test_a_record_lacking_an_objectives_metric_counts_as_failed_and_is_logged(caplog):
    _, history = sobol_history()
    del history[0]["samples_per_joule"]
    history[0]["path"] = "results/s/rounds/000/trials/0.json"
    with caplog.at_level("WARNING", logger="ecopt.search"):
        result = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0)
    assert result.history == {"completed": 5, "early_stopped": 0, "out_of_memory": 0, "failed": 1, "measurement_failed": 0, "total": 6}
    assert "rounds/000/trials/0.json: counted as failed: result lacks metric 'samples_per_joule' of objective 'efficiency'" in caplog.text


def test_with_early_stopping_the_proposals_carry_the_earlier_rounds_rung_points():
    design = propose(0, [], SPACE, OBJECTIVES, SETTINGS, seed=0)
    params = design.proposals

    def curve(*performances):
        return [{"epoch": epoch, "train_loss": 1.0, "validation_loss": 1.0, "performance": p} for epoch, p in enumerate(performances, 1)]

    stop = {"rung": 1, "rank": 3, "allowed": 2, "compared": 3, "reason": "rung 1: stop"}
    history = [
        {
            "params": params[0],
            "status": "completed",
            "round": 0,
            "index": 0,
            "performance": 0.7,
            "samples_per_joule": 100.0,
            "learning_curve": curve(0.5, 0.6, 0.7),
        },
        {"params": params[1], "status": "early_stopped", "round": 0, "index": 1, "performance": 0.2, "samples_per_joule": 300.0, "learning_curve": curve(0.2)}
        | {"stopped_at_rung": 1, "early_stopping": stop},
        {"params": params[2], "status": "failed", "round": 0, "index": 2, "error": "boom"},
        # A record of the proposing round itself never counts (the workflow hands earlier rounds only).
        {
            "params": params[3],
            "status": "early_stopped",  # early-stopped, so the round stays a quick Sobol one
            "round": 1,
            "index": 0,
            "performance": 0.9,
            "samples_per_joule": 9.0,
            "learning_curve": curve(0.9, 0.9, 0.9),
        }
        | {"stopped_at_rung": 1, "early_stopping": stop},
    ]
    early_stopping = validate_section("early_stopping", {"enabled": True})
    result = propose(1, history[:3], SPACE, OBJECTIVES, SETTINGS, seed=0, early_stopping=early_stopping)
    assert result.generator.startswith("sobol")  # one completed trial: nothing to model yet
    assert result.history["early_stopped"] == 1 and result.history["completed"] == 1
    # Curves of 3 epochs, eta 3: the rungs lie strictly below the maximum resource (3), so rung 1 only.
    expected = {"metrics": ["performance", "samples_per_joule"], "maximize": [True, True], "points": {"1": [[0.5, 100.0], [0.2, 300.0]]}}
    assert result.to_dict()["rung_history"] == expected
    with_later = propose(1, history, SPACE, OBJECTIVES, SETTINGS, seed=0, early_stopping=early_stopping, keep_state=False)
    assert with_later.to_dict()["rung_history"] == expected
    assert "rung_history" not in propose(1, history[:3], SPACE, OBJECTIVES, SETTINGS, seed=0, keep_state=False).to_dict()
