import hashlib
import json
from pathlib import Path

import pytest
import yaml

from ecopt.__main__ import main as ecopt_main
from ecopt.records import TrialStatus
from ecopt.status import format_status, ledger_joules, read_records, study_status


def _record(status="completed", performance=0.9, samples_per_joule=100.0, seconds=10.0, joules=(5.0, 2.0)):
    record = {"params": {"width": 8}, "status": status, "process_wall_seconds": seconds, "train_joules": joules[0], "eval_joules": joules[1]}
    if status == "completed":
        record.update(performance=performance, samples_per_joule=samples_per_joule, energy_source="rapl", estimated=False)
    elif status in ("failed", "out_of_memory"):
        record["error"] = "RuntimeError: CUDA out of memory" if status == "out_of_memory" else "ValueError: infeasible"
    elif status == "early_stopped":
        record.update(stopped_at_rung=3, early_stopping={"rung": 3, "rank": 4, "allowed": 2, "compared": 5, "reason": "rung 3: stop"})
    return record


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)


@pytest.fixture
def study_dir(tmp_path):
    """Round 0 (4 trials) and round 1 (2 of 2) done, round 2 half done; a temporary file and a broken record beside them."""
    study = tmp_path / "results" / "toy"
    _write(study / "rounds/000/proposals.json", {"round": 0, "proposals": [{"index": i, "params": {}} for i in range(4)]})
    _write(study / "rounds/000/trials/0.json", _record(performance=0.9, samples_per_joule=100.0, seconds=10.0))
    _write(study / "rounds/000/trials/1.json", _record(performance=0.8, samples_per_joule=400.0, seconds=20.0))
    _write(study / "rounds/000/trials/2.json", _record("out_of_memory", seconds=2.0, joules=(None, None)))
    _write(study / "rounds/000/trials/3.json", _record("failed", seconds=3.0, joules=(1.0, None)))
    _write(study / "rounds/001/proposals.json", {"round": 1, "proposals": [{"index": i, "params": {}} for i in range(2)]})
    _write(study / "rounds/001/trials/0.json", _record(performance=0.7, samples_per_joule=150.0, seconds=30.0))  # dominated
    _write(study / "rounds/001/trials/1.json", _record("early_stopped", seconds=4.0))
    _write(study / "rounds/002/proposals.json", {"round": 2, "proposals": [{"index": i, "params": {}} for i in range(2)]})
    _write(study / "rounds/002/trials/0.json", '{"params": {"width": 8}, "sta')  # a half-written file (not atomic)
    _write(study / "rounds/002/trials/.1.json.tmp", "{")  # an atomic write's temporary: skipped silently
    header = "s\th:m:s\tmax_rss\n"
    _write(study / "benchmarks/propose/000.tsv", header + "2.0\t0:00:02\t100\n")  # Sobol: not a model fit, left out
    _write(study / "benchmarks/propose/001.tsv", header + "80.0\t0:01:20\t900\n")
    _write(study / "benchmarks/propose/002.tsv", header + "100.0\t0:01:40\t900\n")
    return study


def _config(rounds=3, batch_size=2, initial_trials=4):
    return {"study": "toy", "search": {"rounds": rounds, "batch_size": batch_size, "initial_trials": initial_trials}}


def test_counts_rounds_trials_energy_and_time_left(study_dir):
    status = study_status(study_dir, _config())
    assert status.rounds_started == 3 and status.rounds_done == 2 and status.rounds_planned == 4
    assert status.trials == 6 and status.trials_planned == 4 + 3 * 2
    assert status.statuses == {"completed": 3, "failed": 1, "out_of_memory": 1, "early_stopped": 1, "measurement_failed": 0}
    assert status.frontier_size == 2  # (0.9, 100) and (0.8, 400); (0.7, 150) is dominated
    assert status.trial_joules == pytest.approx(4 * 7.0 + 1.0)  # four trials of 5 + 2 J and the failed one's 1 J of training
    assert status.median_trial_seconds == pytest.approx(7.0)  # median of 10, 20, 2, 3, 30, 4
    assert status.seconds_left == pytest.approx((10 - 6) * 7.0 + (4 - 3) * 90.0)  # and one round still to propose
    assert len(status.unreadable) == 1 and "rounds/002/trials/0.json" in status.unreadable[0]


def test_hypervolume_matches_the_frontier_stage(study_dir):
    from ecopt.frontier import frontier_tables
    from ecopt.settings import validate_study

    records, _ = read_records(study_dir)
    expected = frontier_tables(records, list(validate_study({}, sections=["objectives"]).objectives))["hypervolume"][-1]["hypervolume"]
    status = study_status(study_dir, _config())
    assert status.hypervolume == pytest.approx(expected) and status.hypervolume > 0


def test_without_a_config_the_plan_is_unknown(study_dir):
    status = study_status(study_dir, None)
    assert status.rounds_planned is None and status.seconds_left is None
    assert status.rounds_done == 2  # from the proposals' lengths alone
    assert "unknown" in format_status(status)


def test_ledger_is_summed_tolerantly(study_dir):
    assert ledger_joules(study_dir) is None
    _write(study_dir / "ledger/jobs/a.json", {"joules": 12.5})
    _write(study_dir / "ledger/summary.json", {"total_joules": 100.0})
    _write(study_dir / "ledger/partial.json", '{"jou')
    assert ledger_joules(study_dir) == pytest.approx(112.5)


def test_empty_study_folder(tmp_path):
    status = study_status(tmp_path, _config())
    assert status.trials == 0 and status.hypervolume is None and status.rounds_done == 0 and status.seconds_left is None


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_reads_only_and_finds_the_study_config(study_dir, monkeypatch, capsys):
    root = study_dir.parent.parent
    _write(root / "config/config.yaml", yaml.safe_dump(_config(rounds=5)))
    monkeypatch.chdir(root)
    before = _digest(root)
    assert ecopt_main(["status", "results/toy"]) == 0
    out = capsys.readouterr().out
    assert "rounds       2 done of 6" in out and "3 completed" in out and "1 out of memory" in out and "1 early stopped" in out
    assert "time left" in out and "config/config.yaml" in out
    assert ecopt_main(["status", "results/toy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["statuses"][TrialStatus.FAILED.value] == 1
    assert _digest(root) == before  # never writes, not even a lock or a cache


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert ecopt_main(["status", str(tmp_path / "missing")]) == 2
    assert "no study folder" in capsys.readouterr().err
    assert ecopt_main(["status", str(tmp_path), "--settings", json.dumps({"search": {"rounds": -1}})]) == 2
    assert "search.rounds" in capsys.readouterr().err


def test_status_and_summary_json_agree_on_the_study_total(study_dir):
    # the summary job counts itself up to the moment before it writes summary.json; its entry, written after, holds the write too
    from ecopt.settings import validate_study
    from ecopt.summary import SUMMARY_SECTIONS, study_summary
    from tests.test_summary import entry

    others = {
        "data.json": entry("data", 0.0, 5.0),
        "trial/000-0.json": entry("trial", 40.0, 8.0, "000-0"),
        "search/000.json": entry("search", 0.0, 30.0, "000"),
    }
    for name, data in others.items():
        _write(study_dir / "ledger" / name, data)
    settings = validate_study({"study": "toy"}, sections=SUMMARY_SECTIONS)
    frontier = {"efficiency_metric": "samples_per_joule", "completed": 0, "trials": 0, "statuses": {s.value: 0 for s in TrialStatus}}
    summary = study_summary(frontier, [], list(others.values()), settings, own_entry=entry("summary", 0.0, 2.0))
    _write(study_dir / "summary.json", summary)
    _write(study_dir / "ledger/summary.json", entry("summary", 0.0, 2.5))  # the whole job: 0.5 J more than it counted
    status = study_status(study_dir)
    assert status.ledger_joules == pytest.approx(summary["study_energy"]["total_joules"])
    assert status.summary_total_joules == pytest.approx(summary["study_energy"]["total_joules"])
    assert status.summary_job_joules == pytest.approx(5.0)  # 2.5 J over 1 s, plus 1 s of process start at that power
    text = format_status(status)
    assert f"{summary['study_energy']['total_joules']:.1f} J in the study ledger" in text and "(= the ledger total)" in text
    assert "summary job  5.0 J in its own ledger entry" in text
    # a job that ran after summary.json (a rerun figure) makes the difference visible
    _write(study_dir / "ledger/figures/frontier.json", entry("figures", 0.0, 1.0, "frontier"))
    assert "differs from the ledger total" in format_status(study_status(study_dir))
