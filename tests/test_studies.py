"""The shipped paper studies (config/studies/*.yaml) end to end, each on a fixture or a tiny budget.

Each test loads the shipped study file, shrinks only what makes it slow here
(budget, model sizes, data), and runs ``snakemake all --configfile <study>`` in a
folder that also holds the default config/config.yaml, as a user's checkout does:
a study must replace the default study, not merge with it.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_workflow import ROOT, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

FAST_METER = {"min_window_seconds": 0.3, "tracking_mode": "process", "idle_seconds": 0.0}
TINY_SEARCH = {"num_restarts": 4, "raw_samples": 64}


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


def run_study(tmp_path: Path, name: str, changes: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path / "checkout"
    (folder / "config" / "studies").mkdir(parents=True)
    for entry in ("Snakefile", "workflow"):
        (folder / entry).symlink_to(ROOT / entry)
    (folder / "config" / "config.yaml").symlink_to(ROOT / "config" / "config.yaml")
    shipped = yaml.safe_load((ROOT / "config" / "studies" / f"{name}.yaml").read_text())
    study = deep_update(shipped, changes)
    path = folder / "config" / "studies" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    result = snakemake(folder, "all", "--configfile", str(path.relative_to(folder)), timeout=1500)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return folder / "results" / study["study"], study


def read_csv(path: Path) -> list[dict[str, str]]:
    import pandas as pd

    return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")  # cells as written


def trial_records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("rounds/*/trials/*.json"))]


def test_cifar10_cnn_study_on_a_generated_cifar_fixture(tmp_path):
    from ecopt.fixtures import write_cifar10_fixture

    root = tmp_path / "cifar"
    write_cifar10_fixture(root, train_per_batch=24, test=40)
    out, study = run_study(
        tmp_path,
        "cifar10-cnn",
        {
            "adapter_options": {"max_epochs": 2},
            "data": {"root": str(root), "verify_checksums": False, "validation_size": 40},
            "space": {
                "width": {"type": "range", "bounds": [1, 8], "value_type": "int", "log_scale": True},
                "depth": {"type": "range", "bounds": [1, 6], "value_type": "int"},
            },
            "meter": FAST_METER,
            "search": {"initial_trials": 3, "rounds": 1, "batch_size": 2, **TINY_SEARCH},
            "calibration": {"repeats": 3, "overhead_pairs": 1, "window_seconds": None},
            "proxies": {"architectures": 4},
        },
    )
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["dataset"] == "cifar10" and manifest["input_shape"] == [3, 32, 32]
    assert manifest["counts"] == {"train": 80, "val": 40, "test": 40}  # 5 x 24 official training images, 40 held out
    records = trial_records(out)
    assert len(records) == 5
    # The paper's space (depth up to 6, kernels up to 9) holds architectures a 32x32 image cannot feed:
    # those are failed trials with the reason, the rest complete.
    for record in records:
        assert record["status"] in ("completed", "failed")
        assert record["params"]["kernel_size"] in (1, 3, 5, 7, 9)
        if record["status"] == "failed":
            assert "InfeasibleArchitecture" in record["error"]
    assert any(r["status"] == "completed" for r in records)
    for figure in ("pareto", "hypervolume", "scaling", "proxies", "calibration"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 0


def test_transformer_batch_study_measures_tokens_per_joule_against_batch_one(tmp_path):
    out, study = run_study(
        tmp_path,
        "transformer-batch",
        {
            "adapter_options": {
                "hidden_size": 32,
                "layers": 1,
                "heads": 2,
                "vocab_size": 500,
                "prompt_length": 8,
                "new_tokens": 2,
                "max_batch_size": 64,
                "device": "cpu",
            },
            "space": {"batch_size": {"type": "range", "bounds": [1, 64], "value_type": "int", "log_scale": True}},
            "meter": FAST_METER,
            "search": {"initial_trials": 3, "rounds": 1, **TINY_SEARCH},
            "calibration": {"repeats": 3, "overhead_pairs": 1, "window_seconds": None},
        },
    )
    assert not (out / "proxies").exists()  # stages: [calibrate, search]
    records = trial_records(out)
    assert len(records) == 4 and all(r["status"] == "completed" for r in records)
    first = json.loads((out / "rounds" / "000" / "trials" / "0.json").read_text())
    assert first["params"] == {"batch_size": 1}  # the baseline leads round 0
    for record in records:
        batch = record["params"]["batch_size"]
        # One pass is one batch: tokens = batch x (prompt + decoded) per pass.
        assert record["samples"] == record["eval_passes"] * batch * (8 + 2)
        assert record["performance_metric"] == "batch_latency_seconds" and record["performance"] > 0
        assert record["train_joules"] is None  # inference only
    summary = json.loads((out / "summary.json").read_text())
    gain = summary["gain_over_baseline"][0]
    assert gain["baseline"] == {"batch_size": 1} and gain["trials"] == 1
    best = summary["most_efficient"]["samples_per_joule"]
    assert gain["gain"] == pytest.approx(best / first["samples_per_joule"])
    assert gain["gain"] >= 1.0


def test_transformer_size_study_trains_on_the_bundled_corpus_and_fits_a_power_law(tmp_path):
    out, study = run_study(
        tmp_path,
        "transformer-size",
        {
            "adapter_options": {"max_steps": 30, "eval_interval": 15, "batch_size": 8, "validation_tokens": 2048, "test_tokens": 2048, "device": "cpu"},
            "space": {
                "hidden_size": {"type": "choice", "values": [16, 32, 64], "value_type": "int"},
                "layers": {"type": "range", "bounds": [1, 2], "value_type": "int"},
                "heads": {"type": "choice", "values": [1, 2], "value_type": "int"},
                "context_length": {"type": "choice", "values": [16, 32], "value_type": "int"},
            },
            "meter": FAST_METER,
            "search": {"initial_trials": 4, "rounds": 1, "batch_size": 1, **TINY_SEARCH},
            "calibration": {"repeats": 3, "overhead_pairs": 1, "window_seconds": None},
            "proxies": {"architectures": 4},
        },
    )
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["dataset"] == "python_docs" and manifest["num_classes"] == 256
    records = trial_records(out)
    assert len(records) == 5 and all(r["status"] == "completed" for r in records)
    for record in records:
        assert record["performance_metric"] == "next_token_accuracy"
        assert 0 < record["performance"] < 1
        assert record["parameters"] > 0 and record["train_joules"] > 0
    fit = json.loads((out / "summary.json").read_text())["power_law_vs_parameters"]
    assert fit["n"] == 5 and math.isfinite(fit["exponent"]) and fit["exponent_ci_low"] <= fit["exponent"] <= fit["exponent_ci_high"]
    assert (out / "figures" / "scaling.png").stat().st_size > 0


def test_model_zoo_proxy_study_measures_distinct_torchvision_architectures(tmp_path):
    names = ["squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x0_5", "mnasnet0_5", "resnet18"]
    out, study = run_study(
        tmp_path,
        "model-zoo-proxies",
        {
            "adapter_options": {"image_size": 32, "batch_size": 2, "device": "cpu", "architectures": names},
            "space": {"architecture": {"type": "choice", "is_ordered": False, "value_type": "str", "values": names}},
            "meter": FAST_METER,
            "proxies": {"architectures": 5},
        },
    )
    assert not (out / "rounds").exists() and not (out / "calibration").exists()  # stages: [proxies]
    runs = read_csv(out / "proxies" / "runs.csv")
    assert sorted(r["param_architecture"] for r in runs) == sorted(names)  # each once
    stats = json.loads((out / "proxies" / "stats.json").read_text())
    for proxy in ("parameters", "flops_per_sample"):
        entry = stats[f"{proxy}_vs_joules_per_sample"]
        assert entry["n"] == 5 and -1 <= entry["pearson_r"] <= 1
    assert (out / "figures" / "proxies.png").stat().st_size > 0
