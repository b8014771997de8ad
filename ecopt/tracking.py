"""MLflow tracking: every trial an MLflow run, the study a parent run holding its frontier, summary and figures.

Switched on by the study's ``mlflow:`` section (MLflow's own terms: ``tracking_uri``,
``experiment_name``); off, and never imported, when the section is absent.

Design choices:

* **MLflow's client does the work** (``mlflow.MlflowClient``: ``create_run``,
  ``log_batch``, ``log_artifact``, ``search_runs``), not the fluent API: no global
  "active run" leaks between a trial and the code around it, and each call names
  its run.
* **The record is the truth, the run a copy.** A trial's record is written (and
  the metered lock released) before anything is sent to MLflow, and every MLflow
  error is caught and logged as a warning that names the tracking server
  (``log_trial_safely``): a server that is down never fails a trial nor loses a
  record. The request retries and timeout default to 2 and 10 s (the section's
  ``http_request_max_retries`` and ``http_request_timeout``, MLflow's
  ``MLFLOW_HTTP_REQUEST_*`` variables): MLflow's own default of 7 retries with
  backoff would stall each trial for minutes against a dead server.
* **Idempotent catch-up.** Each trial run carries the tag ``ecopt.trial_key``
  (the record's fingerprint: settings, params, round, index; ``round/index`` for
  a record without one). The frontier stage (``sync_study``) lists the study's
  runs by tag once, logs every record that has no finished run yet and parents
  all of them under the study run (the ``mlflow.parentRunId`` tag, which MLflow's
  UI nests by), so running it again adds nothing. A run left unfinished by a
  crash mid-logging is logged again into the same run.
* **One writer at a time on a local store.** Several jobs of one run (the frontier
  and the calibration and proxy figures) reach a ``sqlite:///`` store at once; two
  processes creating a fresh store race in MLflow's schema migrations (measured:
  "CommandError: Online migration expected to match one row ... 0 found" in the
  workflow test), and SQLite takes one writer anyway. Every operation on such a
  store holds ``fcntl.flock`` on ``<database>.lock`` beside it (``_store_lock``).
* **Trials do not create the parent.** Parallel trial jobs (SLURM) would race to
  create it; the frontier stage creates it once and adopts the trial runs.
* **Where the workflow's trials find the section:** the trial rule's settings
  param must not include it (a changed param reruns every finished trial, so
  switching tracking on would re-measure a study); the Snakefile exports it in
  ``ECOPT_MLFLOW`` (``ENVIRONMENT_VARIABLE``) instead, which local and SLURM jobs
  inherit.

Measured (this project's 2-core machine, shared by three jobs): ``import mlflow``
(mlflow-skinny 3.17.2) takes 3.6 to 4.2 s (three runs; ``python -X importtime``
reports 2.9 s cumulative on a quieter moment), against 0.3 s for ``import
ecopt.trial``: that is why ``ecopt.trial`` imports this module only when the
section is present (tests/test_tracking.py checks that a trial without it never
imports mlflow). Creating a fresh SQLite store (MLflow's schema migrations) takes
about 10 s, once per store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ecopt.records import TrialRecord, as_trial_record

logger = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "ECOPT_MLFLOW"
TRIAL_KEY_TAG = "ecopt.trial_key"
STUDY_TAG = "ecopt.study"
ROLE_TAG = "ecopt.role"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests a run under this parent

# Record fields logged as metrics (joules, seconds, samples/J, counts), when the record has a number there.
METRIC_FIELDS = (
    "performance",
    "samples_per_joule",
    "dynamic_samples_per_joule",
    "train_joules",
    "train_seconds",
    "eval_joules",
    "eval_seconds",
    "samples",
    "parameters",
    "flops_per_sample",
    "process_wall_seconds",
    "overhead_seconds",
    "idle_watts",
)
# Artifacts of the study run (relative to the study folder); missing ones are skipped.
STUDY_ARTIFACTS = ("frontier.csv", "summary.json", "trials.csv", "hypervolume.csv")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def trial_key(record: TrialRecord | Mapping[str, Any]) -> str:
    """What identifies a trial's run: the record's fingerprint, else ``round/index``."""
    record = as_trial_record(record)
    return record.fingerprint or f"{record.round}/{record.index}"


def trial_run_data(record: TrialRecord | Mapping[str, Any], study: str | None = None) -> dict[str, Any]:
    """What one trial's MLflow run holds: ``{"name", "params", "metrics", "steps", "tags"}``.

    ``params``: the hyperparameters (name -> value as text, MLflow's parameter type);
    ``metrics``: name -> float for the record's numeric fields (``METRIC_FIELDS``,
    then a plain-function study's own metrics), joules in J and times in s;
    ``steps``: metric name -> list of (step, value), the record's ``learning_curve``
    (train and validation loss, validation performance, cumulative seconds and joules
    per epoch or optimiser step; names shared with a final metric get a ``curve_``
    prefix) when it has one;
    ``tags``: status, energy source, estimated, round, index, host, SLURM job id,
    the study and the ``ecopt.trial_key``. Pure: no MLflow import, tested for values.
    """
    record = as_trial_record(record)
    metrics = {name: value for name in METRIC_FIELDS if (value := _number(record.get(name))) is not None}
    for name, value in record.metrics.items():
        if (number := _number(value)) is not None:
            metrics.setdefault(name, number)
    steps: dict[str, list[tuple[int, float]]] = {}
    for position, point in enumerate(record.learning_curve or []):
        # MLflow's step is the check's epoch (or optimiser step) where the adapter gave one.
        step = point.get("epoch", point.get("step", position))
        for name, value in point.items():
            if name not in ("epoch", "step") and (number := _number(value)) is not None:
                # A curve's performance, train_seconds and train_joules share names with the trial's
                # final metrics; MLflow would merge the two into one history, so the curve's are prefixed.
                key = f"curve_{name}" if name in METRIC_FIELDS else str(name)
                steps.setdefault(key, []).append((int(step), number))
    ran_on = record.ran_on or {}
    tags = {
        "status": record.status.value,
        "energy_source": record.energy_source,
        "estimated": record.estimated,
        "round": record.round,
        "index": record.index,
        "host": ran_on.get("host"),
        "slurm_job_id": ran_on.get("slurm_job_id"),
        "performance_metric": record.performance_metric,
        "error": (record.error or "")[:500] or None,  # MLflow caps tag values; the record keeps the whole text
        STUDY_TAG: study,
        ROLE_TAG: "trial",
        TRIAL_KEY_TAG: trial_key(record),
    }
    return {
        "name": f"trial {record.round:03d}-{record.index}" if record.round is not None and record.index is not None else "trial",
        "params": {name: json.dumps(value) if not isinstance(value, str) else value for name, value in record.params.items()},
        "metrics": metrics,
        "steps": steps,
        "tags": {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in tags.items() if value is not None},
    }


# --------------------------------------------------------------------------- the MLflow edge
def _settings(section: Any) -> Any:
    from ecopt.settings import validate_section

    return validate_section("mlflow", section)


def tracking_uri(section: Any, study: str) -> str:
    """The section's ``tracking_uri``, or the study's own store ``sqlite:///results/<study>/mlflow.db`` when it is null.

    The default is relative to the working directory, which for every workflow job
    is the project's root; a relative ``sqlite:///`` URI is MLflow's own form.
    """
    uri = _settings(section).tracking_uri
    return uri if uri else f"sqlite:///results/{study}/mlflow.db"


@contextlib.contextmanager
def _store_lock(settings: Any, study: str) -> Iterator[None]:
    """Hold ``<database>.lock`` (``fcntl.flock``) for a ``sqlite:///`` store; nothing for a tracking server."""
    uri = tracking_uri(settings, study)
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    lock = Path(uri.removeprefix("sqlite:///") + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as stream:
        fcntl.flock(stream, fcntl.LOCK_EX)  # released when the file closes, or by the kernel if the process dies
        yield


def _client(settings: Any, study: str) -> Any:
    """An ``MlflowClient`` on the section's tracking URI, with its request retries and timeout."""
    # MLflow reads these when it sends a request; a user's own values win.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.http_request_max_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.http_request_timeout))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    from mlflow import MlflowClient

    uri = tracking_uri(settings, study)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    return MlflowClient(tracking_uri=uri)


def _artifact_location(settings: Any, study: str) -> str | None:
    if settings.artifact_location:
        return settings.artifact_location
    uri = tracking_uri(settings, study)
    if uri.startswith("sqlite:///"):
        # Beside the database, not MLflow's default ./mlruns in whatever folder the job runs in.
        database = Path(uri.removeprefix("sqlite:///"))
        return (database.parent / "mlartifacts").resolve().as_uri()
    return None


def experiment_id(client: Any, settings: Any, study: str) -> str:
    """The id of the section's experiment (default: named after the study), created when absent."""
    name = settings.experiment_name or study
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=_artifact_location(settings, study))
    except Exception:  # created meanwhile by a parallel job
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _study_runs(client: Any, experiment: str, study: str) -> list[Any]:
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment], filter_string=f"tags.`{STUDY_TAG}` = '{study}'", max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _study_run(client: Any, experiment: str, study: str, runs: Sequence[Any] | None = None) -> str:
    """The id of the study's parent run, created when absent (``runs``: the study's runs, when already listed)."""
    runs = _study_runs(client, experiment, study) if runs is None else runs
    parents = sorted((run for run in runs if run.data.tags.get(ROLE_TAG) == "study"), key=lambda run: run.info.start_time)
    if parents:  # the oldest, should two frontier stages ever have raced
        return parents[0].info.run_id
    return client.create_run(experiment, run_name=f"study {study}", tags={STUDY_TAG: study, ROLE_TAG: "study"}).info.run_id


def log_study_artifacts_safely(section: Any, study: str, paths: Iterable[str | Path], artifact_path: str = "figures") -> bool:
    """Attach files (the figures, the interactive frontier page) to the study's parent run, under ``artifact_path``.

    Returns True when logged; any MLflow failure is a warning naming the tracking server, and False.
    """
    settings = _settings(section)
    try:
        with _store_lock(settings, study):
            client = _client(settings, study)
            parent = _study_run(client, experiment_id(client, settings, study), study)
            for path in paths:
                client.log_artifact(parent, str(path), artifact_path=artifact_path)
    except Exception as error:  # the files are written already: tracking must never fail the stage
        uri = tracking_uri(settings, study)
        logger.warning("MLflow tracking server %s: could not attach %s to the study run (%s: %s)", uri, artifact_path, type(error).__name__, error)
        return False
    return True


def _log_trial_run(client: Any, experiment: str, record: TrialRecord, study: str, parent: str | None, run_id: str | None = None) -> str:
    from mlflow.entities import Metric, Param, RunTag

    data = trial_run_data(record, study)
    tags = dict(data["tags"], **({PARENT_TAG: parent} if parent else {}))
    if run_id is None:
        run_id = client.create_run(experiment, run_name=data["name"], tags=tags).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(name, value, now, 0) for name, value in data["metrics"].items()]
    metrics += [Metric(name, value, now, step) for name, values in data["steps"].items() for step, value in values]
    params = [Param(name, value) for name, value in data["params"].items()]
    # log_batch takes at most 1000 metrics per call; a long learning curve is sent in slices.
    for start in range(0, max(len(metrics), 1), 1000):
        client.log_batch(
            run_id,
            metrics=metrics[start : start + 1000],
            params=params if start == 0 else [],
            tags=[RunTag(k, v) for k, v in tags.items()] if start == 0 else [],
        )
    if record.path:
        client.log_artifact(run_id, record.path, artifact_path="record")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def log_trial(section: Any, record: TrialRecord | Mapping[str, Any], study: str) -> str:
    """Log one trial record as an MLflow run (or find the finished run that already holds it); return the run id.

    ``section`` is the ``mlflow`` settings (a mapping or ``MlflowSettings``);
    ``record.path``, when set, is attached as the artifact ``record/<index>.json``.
    Raises whatever MLflow raises (unreachable server, bad URI): use
    ``log_trial_safely`` where a failure must not propagate.
    """
    settings = _settings(section)
    record = as_trial_record(record)
    with _store_lock(settings, study):
        client = _client(settings, study)
        experiment = experiment_id(client, settings, study)
        key = trial_key(record)
        found = client.search_runs([experiment], filter_string=f"tags.`{TRIAL_KEY_TAG}` = '{key}'", max_results=1)
        if found and found[0].info.status == "FINISHED":
            return found[0].info.run_id
        return _log_trial_run(client, experiment, record, study, None, found[0].info.run_id if found else None)


def log_trial_safely(section: Any, record: TrialRecord | Mapping[str, Any], study: str) -> str | None:
    """``log_trial``, but any failure is a warning naming the tracking server, never an exception; None then."""
    uri = tracking_uri(section, study)
    try:
        return log_trial(section, record, study)
    except Exception as error:  # the record is already written: tracking must never fail the trial
        logger.warning(
            "MLflow tracking server %s: could not log this trial (%s: %s); its record is kept, and the frontier stage logs it on its next run",
            uri,
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
        )
        return None


def sync_study(
    section: Any, records: Sequence[TrialRecord | Mapping[str, Any]], study: str, study_dir: str | Path | None = None, artifacts: Iterable[str | Path] = ()
) -> dict[str, Any]:
    """Bring MLflow up to date with a study: the parent run, one finished run per record, the study's files.

    Creates the study run (tags ``ecopt.study``, ``ecopt.role=study``) when absent;
    logs every record without a finished run (the catch-up after a server outage);
    parents every trial run of the study under the study run; logs the hypervolume
    trace (``hypervolume.csv``: one step per trial), the frontier size and trial
    counts as metrics; attaches ``STUDY_ARTIFACTS`` from ``study_dir`` and any
    ``artifacts`` (figures) under ``figures/``. Idempotent: a second call creates
    no run. Returns ``{"study_run", "logged", "already_logged", "adopted"}``.
    Raises what MLflow raises.
    """
    settings = _settings(section)
    with _store_lock(settings, study):
        return _sync_study(settings, records, study, study_dir, artifacts)


def _sync_study(
    settings: Any, records: Sequence[TrialRecord | Mapping[str, Any]], study: str, study_dir: str | Path | None, artifacts: Iterable[str | Path]
) -> dict[str, Any]:
    from mlflow.entities import Metric

    client = _client(settings, study)
    experiment = experiment_id(client, settings, study)
    runs = _study_runs(client, experiment, study)
    parent = _study_run(client, experiment, study, runs)
    by_key = {run.data.tags.get(TRIAL_KEY_TAG): run for run in runs if run.data.tags.get(ROLE_TAG) == "trial"}
    counts = {"study_run": parent, "logged": 0, "already_logged": 0, "adopted": 0}
    for record in map(as_trial_record, records):
        run = by_key.get(trial_key(record))
        if run is not None and run.info.status == "FINISHED":
            counts["already_logged"] += 1
            if run.data.tags.get(PARENT_TAG) != parent:
                client.set_tag(run.info.run_id, PARENT_TAG, parent)
                counts["adopted"] += 1
            continue
        _log_trial_run(client, experiment, record, study, parent, run.info.run_id if run is not None else None)
        counts["logged"] += 1
    now = int(time.time() * 1000)
    metrics = [Metric("trials", float(len(records)), now, 0)]
    if study_dir is not None:
        folder = Path(study_dir)
        metrics += _table_metrics(folder, now)
        for name in STUDY_ARTIFACTS:
            if (folder / name).is_file():
                client.log_artifact(parent, str(folder / name))
    for path in artifacts:
        client.log_artifact(parent, str(path), artifact_path="figures")
    # Log only what the study run does not hold yet, so a second sync adds nothing.
    held = {(m.key, m.step, m.value) for key in {m.key for m in metrics} for m in client.get_metric_history(parent, key)}
    latest = client.get_run(parent).data.metrics
    metrics = [m for m in metrics if (m.key, m.step, m.value) not in held and not (m.step == 0 and latest.get(m.key) == m.value)]
    for start in range(0, len(metrics), 1000):
        client.log_batch(parent, metrics=metrics[start : start + 1000])
    return counts


def _table_metrics(folder: Path, now: int) -> list[Any]:
    """The hypervolume after each trial (steps) and the frontier size, from the frontier stage's tables."""
    import csv

    from mlflow.entities import Metric

    metrics = []
    if (folder / "hypervolume.csv").is_file():
        with open(folder / "hypervolume.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                value = _number(float(row["hypervolume"])) if row.get("hypervolume") else None
                if value is not None:
                    metrics.append(Metric("hypervolume", value, now, int(row["trial_number"])))
    if (folder / "frontier.csv").is_file():
        with open(folder / "frontier.csv", newline="") as handle:
            metrics.append(Metric("frontier_size", float(sum(1 for _ in csv.DictReader(handle))), now, 0))
    return metrics


def sync_study_safely(section: Any, records: Sequence[TrialRecord | Mapping[str, Any]], study: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """``sync_study``, but a failure is a warning naming the tracking server (the stage's files are written already)."""
    uri = tracking_uri(section, study)
    try:
        counts = sync_study(section, records, study, *args, **kwargs)
    except Exception as error:
        logger.warning(
            "MLflow tracking server %s: could not log the study (%s: %s); run the frontier stage again once it is reachable",
            uri,
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
        )
        return None
    logger.info(
        "MLflow %s: study run %s; %d trial runs logged now, %d already there",
        uri,
        counts["study_run"],
        counts["logged"],
        counts["already_logged"],
    )
    return counts


def section_from_environment() -> tuple[str, dict[str, Any]] | None:
    """The study name and ``mlflow`` section the workflow exported in ``ECOPT_MLFLOW``, or None when unset or empty.

    The variable holds ``{"study": name, "mlflow": section}`` as JSON (``environment_value``).
    Raises ``ConfigError`` naming the variable when its text is not that.
    """
    text = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not text:
        return None
    from ecopt.errors import ConfigError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(ENVIRONMENT_VARIABLE, text, f'a JSON object {{"study": name, "mlflow": section}} ({error})') from None
    if not isinstance(value, dict) or not isinstance(value.get("study"), str) or not isinstance(value.get("mlflow"), dict):
        raise ConfigError(ENVIRONMENT_VARIABLE, value, 'a JSON object {"study": name, "mlflow": section}')
    return value["study"], value["mlflow"]


def environment_value(study: str, section: Mapping[str, Any]) -> str:
    """The text of ``ECOPT_MLFLOW`` for a study and its ``mlflow`` section (what the Snakefile exports)."""
    return json.dumps({"study": study, "mlflow": dict(section)}, sort_keys=True)
