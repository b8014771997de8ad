"""summary.json: the frontier's summary plus the study energy ledger and the net impact."""

from __future__ import annotations

import pytest

from ecopt.ledger import ledger_entry
from ecopt.meter import BackendReading, ComponentEnergy
from ecopt.records import TrialRecord, TrialStatus, validate_document
from ecopt.settings import validate_study
from ecopt.summary import SUMMARY_SECTIONS, study_summary


def reading(joules: float, seconds: float) -> BackendReading:
    return BackendReading(
        seconds, ComponentEnergy(joules, "fake", True, joules / seconds), ComponentEnergy(0.0, "fake", True, 0.0), None, joules * 1e-7, "process", "fake"
    )


def entry(stage: str, inside: float, outside: float, job: str | None = None) -> dict:
    windows = [(True, reading(inside, 1.0))] if inside else []
    return ledger_entry(
        windows + [(False, reading(outside, 1.0))], stage=stage, job=job, began_at=2.0, finished_at=3.0, process_started_at=1.0, tracking_mode="process"
    )


def test_study_energy_covers_every_entry_and_the_trials_windows():
    records = [
        TrialRecord(
            params={"x": 0.5}, status=TrialStatus.COMPLETED, round=0, index=0, performance=0.9, samples_per_joule=100.0, train_joules=30.0, eval_joules=10.0
        ),
        TrialRecord(
            params={"x": 0.1}, status=TrialStatus.COMPLETED, round=0, index=1, performance=0.92, samples_per_joule=400.0, train_joules=20.0, eval_joules=20.0
        ),
    ]
    entries = [entry("data", 0.0, 5.0), entry("trial", 40.0, 8.0, "000-0"), entry("trial", 40.0, 8.0, "000-1"), entry("search", 0.0, 30.0, "000")]
    settings = validate_study(
        {"study": "t", "search": {"baseline": [{"x": 0.5}]}, "net_impact": {"choice": "most_efficient_above_floor", "performance_floor": 0.9}},
        sections=SUMMARY_SECTIONS,
    )
    frontier = {
        "efficiency_metric": "samples_per_joule",
        "completed": 2,
        "trials": 2,
        "statuses": dict.fromkeys(s.value for s in TrialStatus)
        | {"completed": 2, "failed": 0, "out_of_memory": 0, "early_stopped": 0, "measurement_failed": 0},
    }
    summary = study_summary(frontier, records, entries, settings, own_entry=entry("summary", 0.0, 2.0))
    validate_document(summary, "summary", "<test>")
    energy = summary["study_energy"]
    # each entry: its windows plus 1 s of process start at the outside power
    assert energy["total_joules"] == pytest.approx(10 + 56 + 56 + 60 + 4)
    assert energy["by_stage"]["trial"] == pytest.approx(112.0) and energy["by_stage"]["summary"] == pytest.approx(4.0)
    trial_windows = sum(r.train_joules + r.eval_joules for r in records)
    assert energy["trial_windows_joules"] == pytest.approx(trial_windows) and energy["total_joules"] >= trial_windows
    assert energy["trial_overhead_joules"] == pytest.approx(2 * 16.0)
    assert energy["share_outside_trial_windows"] == pytest.approx(1 - 80 / 186)
    impact = summary["net_impact"]
    assert impact["joules_saved_per_inference"] == pytest.approx(0.01 - 0.0025)
    assert impact["break_even_inferences"] == pytest.approx(186 / 0.0075)


def test_the_report_page_shows_the_study_energy_and_the_net_impact(tmp_path):
    import json

    from ecopt.summary import main, summary_html

    summary = {
        "study_energy": {
            "total_joules": 12982.0,
            "by_stage": {"search": 4113.0, "trial": 6453.0},
            "estimated": True,
            "share_outside_trial_windows": 0.64,
            "emissions_kg_co2eq": 0.0013,
        },
        "net_impact": {
            "choice": "knee",
            "break_even_inferences": 5_700_000.0,
            "chosen": {"how": "the frontier's knee", "params": {"width": 21}, "performance": 0.978, "joules_per_inference": 1.38e-3},
            "baseline": {"params": {"width": 32}, "performance": 0.972, "joules_per_inference": 3.65e-3},
            "joules_saved_per_inference": 2.27e-3,
            "deployment": {"inferences": 10**7, "net_joules_saved": 9718.0},
        },
    }
    page = summary_html(summary)
    assert "12 982 J (ESTIMATED)" in page and "stage search</th><td>4 113 J" in page and "64.0 %" in page
    assert "break-even inferences</th><td>5 700 000" in page and "0.00227 J" in page and "net saving at 10000000 inferences" in page
    none = {**summary, "net_impact": {"choice": "knee", "break_even_inferences": None, "reason": "no trial reaches the performance floor 0.9 <x>"}}
    page = summary_html(none)
    assert "break-even inferences</th><td>none" in page and "floor 0.9 &lt;x&gt;" in page  # escaped

    # the stage writes it beside summary.json
    trials = tmp_path / "trials"
    trials.mkdir()
    (trials / "0.json").write_text(
        json.dumps({"params": {"x": 0.5}, "status": "completed", "round": 0, "index": 0, "performance": 0.9, "samples_per_joule": 100.0})
    )
    ledger = tmp_path / "data.json"
    ledger.write_text(json.dumps(entry("data", 0.0, 5.0)))
    frontier = tmp_path / "frontier.json"
    frontier.write_text(json.dumps({"efficiency_metric": "samples_per_joule", "completed": 1, "trials": 1, "statuses": {s.value: 0 for s in TrialStatus}}))
    settings = json.dumps({"search": {"baseline": [{"x": 0.5}]}})
    args = ["--settings", settings, "--frontier-summary", str(frontier), "--trials", str(trials), "--ledger", str(ledger), "--out", str(tmp_path / "s.json")]
    assert main([*args, "--html", str(tmp_path / "net_impact.html")]) == 0
    page = (tmp_path / "net_impact.html").read_text()
    assert "10 J" in page and "not less than the baseline" in page  # the baseline is the only trial: nothing saved
