import json
import logging
import socket
import subprocess
import sys
import time

import pytest

from ecopt.records import load_trial_records
from ecopt.tracking import ENVIRONMENT_VARIABLE, environment_value, log_trial, log_trial_safely, sync_study, trial_key, trial_run_data

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny is not installed (pip install -e '.[test]')")

SCRIPTED = "tests.fakes:ScriptedModel"


def _record(index=0, status="completed", fingerprint=None, **extra):
    record = {
        "params": {"x": 0.2, "n": 2, "act": "relu"},
        "status": status,
        "round": 0,
        "index": index,
        "performance_metric": "accuracy",
        "fingerprint": fingerprint or f"{index:064x}",
        "ran_on": {"host": "node7", "slurm_job_id": "4242"},
        "process_wall_seconds": 3.5,
    }
    if status == "completed":
        record.update(
            performance=0.91,
            samples_per_joule=250.0,
            samples=500,
            eval_joules=2.0,
            eval_seconds=0.5,
            train_joules=40.0,
            train_seconds=9.0,
            parameters=1234,
            flops_per_sample=5.0e5,
            energy_source="cpu:rapl",
            estimated=False,
        )
    else:
        record["error"] = "RuntimeError: CUDA out of memory"
    record.update(extra)
    return record


def _write_records(folder, records):
    trials = folder / "rounds" / "000" / "trials"
    trials.mkdir(parents=True, exist_ok=True)
    for record in records:
        (trials / f"{record['index']}.json").write_text(json.dumps(record))
    return load_trial_records([trials])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module: MLflow's schema migrations cost about 10 s per new database."""
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder}/mlflow.db"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_trial_run_data_holds_params_metrics_tags_and_steps():
    curve = [{"epoch": 1, "validation_loss": 1.5, "train_loss": 2.0}, {"epoch": 2, "validation_loss": 1.1, "train_loss": 1.4}]
    data = trial_run_data(_record(learning_curve=curve), study="toy")
    assert data["name"] == "trial 000-0"
    assert data["params"] == {"x": "0.2", "n": "2", "act": "relu"}
    assert data["metrics"]["performance"] == 0.91 and data["metrics"]["samples_per_joule"] == 250.0
    assert data["metrics"]["train_joules"] == 40.0 and data["metrics"]["eval_seconds"] == 0.5
    assert data["metrics"]["parameters"] == 1234.0 and data["metrics"]["flops_per_sample"] == 5.0e5
    assert data["steps"] == {"validation_loss": [(1, 1.5), (2, 1.1)], "train_loss": [(1, 2.0), (2, 1.4)]}
    # The curve's performance and cumulative joules do not merge into the final metrics' history.
    curved = trial_run_data(_record(learning_curve=[{"epoch": 1, "performance": 0.5, "train_joules": 3.0}]), study="toy")["steps"]
    assert curved == {"curve_performance": [(1, 0.5)], "curve_train_joules": [(1, 3.0)]}
    tags = data["tags"]
    assert tags["status"] == "completed" and tags["energy_source"] == "cpu:rapl" and tags["estimated"] == "false"
    assert (tags["round"], tags["index"], tags["host"], tags["slurm_job_id"]) == ("0", "0", "node7", "4242")
    assert tags["ecopt.study"] == "toy" and tags["ecopt.trial_key"] == "0" * 64


def test_failed_trial_has_no_efficiency_metric_and_keeps_its_error():
    data = trial_run_data(_record(status="out_of_memory"), study="toy")
    assert "samples_per_joule" not in data["metrics"] and data["tags"]["status"] == "out_of_memory"
    assert data["tags"]["error"].startswith("RuntimeError")
    assert trial_key({**_record(), "fingerprint": None}) == "0/0"


def test_log_trial_is_one_run_with_its_record_and_is_idempotent(tmp_path, store):
    (record,) = _write_records(tmp_path, [_record()])
    section = {"tracking_uri": store, "experiment_name": "idempotent"}
    run_id = log_trial(section, record, "toy")
    assert log_trial(section, record, "toy") == run_id  # found by its ecopt.trial_key tag, not logged twice
    client = mlflow.MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("idempotent").experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["samples_per_joule"] == 250.0 and run.data.params["n"] == "2"
    assert run.data.tags["slurm_job_id"] == "4242"
    assert [a.path for a in client.list_artifacts(run_id, "record")] == ["record/0.json"]


def test_sync_study_catches_up_parents_and_logs_the_study_files(tmp_path, store):
    records = _write_records(tmp_path, [_record(0), _record(1, status="out_of_memory"), _record(2, performance=0.8, samples_per_joule=900.0)])
    (tmp_path / "frontier.csv").write_text("round,index\n0,0\n0,2\n")
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "hypervolume.csv").write_text("trial_number,hypervolume\n1,0.0\n2,0.0\n3,0.5\n")
    figure = tmp_path / "pareto.png"
    figure.write_bytes(b"\x89PNG")
    section = {"tracking_uri": store, "experiment_name": "catch-up"}
    log_trial(section, records[0], "toy")  # logged by its trial job; the other two missed a server outage

    counts = sync_study(section, records, "toy", tmp_path, [figure])
    assert (counts["logged"], counts["already_logged"], counts["adopted"]) == (2, 1, 1)
    again = sync_study(section, records, "toy", tmp_path)
    assert (again["logged"], again["already_logged"], again["adopted"]) == (0, 3, 0) and again["study_run"] == counts["study_run"]

    client = mlflow.MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("catch-up").experiment_id])
    trials = [r for r in runs if r.data.tags["ecopt.role"] == "trial"]
    assert len(runs) == 4 and len(trials) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {counts["study_run"]}
    study_run = client.get_run(counts["study_run"])
    assert study_run.data.metrics["frontier_size"] == 2.0 and study_run.data.metrics["trials"] == 3.0
    assert [m.value for m in client.get_metric_history(counts["study_run"], "hypervolume")] == [0.0, 0.0, 0.5]
    artifacts = {a.path for a in client.list_artifacts(counts["study_run"])} | {a.path for a in client.list_artifacts(counts["study_run"], "figures")}
    assert {"frontier.csv", "summary.json", "hypervolume.csv", "figures/pareto.png"} <= artifacts


def test_unreachable_server_is_a_warning_naming_it(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    uri = f"http://127.0.0.1:{_closed_port()}"
    (record,) = _write_records(tmp_path, [_record()])
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="ecopt.tracking"):
        assert log_trial_safely({"tracking_uri": uri, "http_request_max_retries": 0, "http_request_timeout": 2}, record, "toy") is None
    assert time.monotonic() - started < 30
    assert uri in caplog.text and "record is kept" in caplog.text


def _trial_cli(tmp_path, python_env, settings, extra_env=None):
    code = (
        "import runpy, sys\n"
        "try:\n    runpy.run_module('ecopt.trial', run_name='__main__')\n"
        "except SystemExit as exit:\n    status = exit.code\n"
        "print('MLFLOW_IMPORTED', 'mlflow' in sys.modules)\n"
    )
    out = tmp_path / "rounds" / "000" / "trials" / "0.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    proposals = tmp_path / "rounds" / "000" / "proposals.json"
    proposals.write_text(json.dumps({"round": 0, "generator": "sobol", "seed": 0, "proposals": [{"index": 0, "params": {"x": 0.2, "n": 1}}]}))
    env = dict(python_env, **(extra_env or {}))
    env.pop(ENVIRONMENT_VARIABLE, None) if not extra_env or ENVIRONMENT_VARIABLE not in extra_env else None
    args = ["--settings", json.dumps(settings), "--proposals", str(proposals), "--index", "0", "--out", str(out)]
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=180)
    return result, out


STUDY = {"adapter": SCRIPTED, "meter": {"min_window_seconds": 0.1, "tracking_mode": "process", "idle_seconds": 0}}


@pytest.mark.slow
def test_trial_without_the_section_never_imports_mlflow(tmp_path, python_env):
    result, out = _trial_cli(tmp_path, python_env, STUDY)
    assert result.returncode == 0, result.stderr
    assert "MLFLOW_IMPORTED False" in result.stdout and json.loads(out.read_text())["status"] == "completed"


@pytest.mark.slow
def test_tracking_server_down_the_trial_completes_and_the_frontier_stage_catches_up(tmp_path, python_env, store):
    from ecopt.frontier import main as frontier_main

    uri = f"http://127.0.0.1:{_closed_port()}"
    down = {"tracking_uri": uri, "experiment_name": "outage", "http_request_max_retries": 0, "http_request_timeout": 2}
    result, out = _trial_cli(tmp_path, python_env, STUDY, {ENVIRONMENT_VARIABLE: environment_value("toy", down)})
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["status"] == "completed"  # the record is intact
    assert f"MLflow tracking server {uri}" in result.stderr

    up = dict(down, tracking_uri=store)
    settings = json.dumps({"study": "toy", "mlflow": up})
    assert frontier_main(["--settings", settings, "--trials", str(out.parent), "--out-dir", str(tmp_path)]) == 0
    client = mlflow.MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("outage").experiment_id])
    trial_runs = [r for r in runs if r.data.tags["ecopt.role"] == "trial"]
    assert len(trial_runs) == 1 and trial_runs[0].data.metrics["samples_per_joule"] > 0
    assert trial_runs[0].data.tags["ecopt.trial_key"] == json.loads(out.read_text())["fingerprint"]


@pytest.mark.slow
def test_trial_job_logs_its_run_through_the_workflow_variable(tmp_path, python_env, store):
    section = {"tracking_uri": store, "experiment_name": "from-trial-job"}
    result, out = _trial_cli(tmp_path, python_env, STUDY, {ENVIRONMENT_VARIABLE: environment_value("toy", section)})
    assert result.returncode == 0, result.stderr
    assert "MLFLOW_IMPORTED True" in result.stdout
    client = mlflow.MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("from-trial-job").experiment_id])
    assert run.data.tags["round"] == "0" and run.data.tags["index"] == "0" and run.data.params["n"] == "1"
    assert run.data.metrics["performance"] == json.loads(out.read_text())["performance"]


def test_default_store_is_the_studys_own_sqlite_file():
    from ecopt.tracking import tracking_uri

    assert tracking_uri({}, "toy") == "sqlite:///results/toy/mlflow.db"
    assert tracking_uri({"tracking_uri": "http://mlflow:5000"}, "toy") == "http://mlflow:5000"


@pytest.mark.slow
def test_parallel_jobs_share_a_fresh_local_store(tmp_path, python_env):
    """Three processes reach a new SQLite store at once (the frontier and two figure jobs do): every one logs."""
    store = f"sqlite:///{tmp_path}/fresh/mlflow.db"
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"\x89PNG")
    code = (
        "import sys\nfrom ecopt.tracking import log_study_artifacts_safely\n"
        "sys.exit(0 if log_study_artifacts_safely({'tracking_uri': sys.argv[1]}, 'toy', [sys.argv[2]], sys.argv[3]) else 1)\n"
    )
    jobs = [subprocess.Popen([sys.executable, "-c", code, store, str(figure), f"job{n}"], env=python_env, stderr=subprocess.PIPE, text=True) for n in range(3)]
    results = [(job.wait(timeout=300), job.stderr.read()) for job in jobs]
    assert all(status == 0 for status, _ in results), results
    client = mlflow.MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"job0", "job1", "job2"}
