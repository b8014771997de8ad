"""The files stages hand each other: trial records, round proposals, the study summary, the tables.

A trial record is the contract every stage shares: ``ecopt.trial`` writes it,
the optimiser's history reads it, the frontier tabulates it. It is a typed
``TrialRecord`` with a ``TrialStatus``, and its published JSON Schema
(``ecopt/schemas/trial_record.schema.json``, shipped as package data beside
``proposals.schema.json`` and ``summary.schema.json``) is checked whenever a
record is loaded, so a hand-edited or truncated file fails with its path, the
key inside it and what was expected, not three stages later with a ``KeyError``.

Design choices:

* **jsonschema does the validating** (Draft 2020-12); this module only turns its
  best-matching error into a ``RecordError`` that names file, key path, value
  and expectation. Measured: 0.9 ms per full trial record (jsonschema 4.26), so
  a 200-trial history costs 0.2 s to load, little beside one round's model fit.
* **``TrialStatus`` is a ``str`` Enum**: ``record.status == "completed"`` keeps
  working, JSON writes the plain value, and a typo in a status is an error.
* **Records stay readable as mappings** (``record.get(metric)``,
  ``record["params"]``): an objective names its metric by record key, and a
  plain-function study's metrics (anything the function returns) live in
  ``TrialRecord.metrics`` beside the fixed fields, so one lookup serves both.
* **Tables keep their types**: CSV has none, so ``TABLE_DTYPES`` declares the
  pandas dtype of every known column (nullable ``Int64`` and ``boolean``, the
  status as a category over every status) and ``read_table`` reads them back
  with it. Nothing re-parses "True"/"False" by hand.

Trial records live at ``rounds/<round>/trials/<index>.json``; readers take
folders or files and return records in a stable order (round, then index), each
tagged with ``round``, ``index`` and ``path``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from ecopt.errors import RecordError

RECORD_SCHEMA = "ecopt.trial/2"
_ROUND = re.compile(r"^\d+$")


# Allocator messages of torch (CUDA, MPS, CPU) and glibc that mean "out of memory".
_OUT_OF_MEMORY_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception raised by a trial means out of memory (status ``out_of_memory``).

    True for ``MemoryError``, for any exception class named ``OutOfMemoryError``
    (``torch.OutOfMemoryError``, without importing torch) and for a ``RuntimeError``
    whose text is an allocator's out-of-memory message. One rule for the workflow's
    trials and ``ecopt.optimize``.
    """
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    return isinstance(error, RuntimeError) and any(text in str(error).lower() for text in _OUT_OF_MEMORY_MESSAGES)


class TrialStatus(str, Enum):
    """How a trial ended. Only ``COMPLETED`` trials have objective values; every
    table and figure counts the others by status and never plots them as points."""

    COMPLETED = "completed"
    FAILED = "failed"  # the adapter raised (e.g. InfeasibleArchitecture); ``error`` says why
    OUT_OF_MEMORY = "out_of_memory"  # the configuration does not fit the device: the worst outcome
    EARLY_STOPPED = "early_stopped"  # stopped at a rung by multi-objective early stopping (ecopt.early_stopping): partial performance
    MEASUREMENT_FAILED = "measurement_failed"  # the meter's window was unusable twice (0 J, a negative component)

    def __str__(self) -> str:  # f-strings and CSV cells give "completed", not "TrialStatus.COMPLETED"
        return self.value


STATUSES: tuple[str, ...] = tuple(status.value for status in TrialStatus)


# --------------------------------------------------------------------------- schemas
@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in ``ecopt/schemas/`` (``name`` without ``.schema.json``)."""
    from importlib.resources import files

    resource = files("ecopt").joinpath("schemas", f"{name}.schema.json")
    return json.loads(resource.read_text(encoding="utf-8"))


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _key_path(path: Iterable[Any]) -> str:
    """jsonschema's deque of keys and indices as ``eval_energy.cpu.joules`` / ``proposals[2].params``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def _expected(error: Any) -> str:
    kind, rule = error.validator, error.validator_value
    if kind == "type":
        names = [rule] if isinstance(rule, str) else list(rule)
        return "a value of JSON type " + " or ".join(names)
    if kind == "enum":
        return f"one of {list(rule)}"
    if kind == "const":
        return f"{rule!r}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        relation = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        return f"a number {relation} {rule}"
    if kind in ("minItems", "maxItems"):
        return f"a list with {'at least' if kind == 'minItems' else 'at most'} {rule} items"
    return error.message  # oneOf, additionalProperties, ...: jsonschema's own wording


def validate_document(document: Any, schema: str, source: str | Path) -> None:
    """Check ``document`` against the packaged schema ``schema``; raise ``RecordError`` naming
    ``source`` (a file path or a description), the key path, the value and the expectation."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator(schema).iter_errors(document))
    if error is None:
        return
    if error.validator == "required":
        missing = next((name for name in error.validator_value if not isinstance(error.instance, Mapping) or name not in error.instance), "?")
        key = _key_path([*error.absolute_path, missing])
        raise RecordError(str(source), key, None, "a value (the key is required)")
    raise RecordError(str(source), _key_path(error.absolute_path), error.instance, _expected(error))


def read_document(path: str | Path, schema: str) -> Any:
    """A JSON file, parsed and checked against the packaged schema ``schema`` (by ``jsonschema``).

    Raises ``RecordError`` naming the file, the key path and what was expected, for
    invalid JSON or a schema violation; OSError when the file cannot be read.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RecordError(str(path), "<top level>", None, f"valid JSON ({error})") from None
    validate_document(document, schema, path)
    return document


def read_proposals(path: str | Path) -> dict[str, Any]:
    """A round's ``proposals.json`` (schema ``proposals``)."""
    return read_document(path, "proposals")


def read_summary(path: str | Path) -> dict[str, Any]:
    """A study's ``summary.json`` (schema ``summary``)."""
    return read_document(path, "summary")


# --------------------------------------------------------------------------- trial records
@dataclass
class TrialRecord:
    """One evaluated configuration (see ``trial_record.schema.json`` for every field's meaning).

    Energies are joules, times seconds, efficiency samples (or tokens) per joule
    of the evaluation window. ``metrics`` holds what a plain-function study's
    function returned beyond these fields; ``path`` is where the record was read
    from (never written back).
    """

    params: dict[str, Any]
    status: TrialStatus
    error: str | None = None
    round: int | None = None
    index: int | None = None
    schema: str = RECORD_SCHEMA
    filled_defaults: list[str] = field(default_factory=list)
    measurement_errors: list[str] = field(default_factory=list)
    performance_metric: str | None = None
    performance: float | None = None
    performance_spread: list[float] | None = None
    learning_curve: list[dict[str, float]] | None = None
    learning_curve_joules: str | None = None
    stopped_at_rung: int | None = None
    early_stopping: dict[str, Any] | None = None
    samples: int | None = None
    samples_per_joule: float | None = None
    dynamic_samples_per_joule: float | None = None
    lifecycle_samples_per_joule: float | None = None
    eval_joules: float | None = None
    eval_seconds: float | None = None
    eval_passes: int | None = None
    train_joules: float | None = None
    train_seconds: float | None = None
    train_below_resolution: bool | None = None  # training shorter than min_window_seconds: lower-resolution joules
    parameters: int | None = None
    flops_per_sample: float | None = None
    energy_source: str | None = None
    estimated: bool | None = None
    energy_components: str | None = None  # what samples/J counted, e.g. "cpu+gpu" (meter.components)
    disturbed: bool | None = None  # machine mode: a kept window stayed above meter.max_disturbance_share
    disturbance_share: float | None = None  # the largest share of the machine's CPU other processes used in a kept window
    skip_train: bool | None = None
    idle_watts: float | None = None
    train_energy: dict[str, Any] | None = None
    eval_energy: dict[str, Any] | None = None
    min_window_seconds: float | None = None
    min_window_source: str | None = None  # a calibration summary's path, or "meter.min_window_seconds"
    ran_on: dict[str, Any] | None = None
    process_wall_seconds: float | None = None
    overhead_seconds: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    traceback: str | None = None
    fingerprint: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    def __post_init__(self) -> None:
        self.status = TrialStatus(self.status)

    # Mapping-style reads: an objective's metric is a record key, a field or a function's metric alike.
    def get(self, key: str, default: Any = None) -> Any:
        """The value under record key ``key`` (a field or an entry of ``metrics``), else ``default``."""
        if key in _FIELD_NAMES:
            return getattr(self, key)
        return self.metrics.get(key, default)

    def __getitem__(self, key: str) -> Any:
        if key in _FIELD_NAMES:
            return getattr(self, key)
        return self.metrics[key]

    def __contains__(self, key: object) -> bool:
        return key in _FIELD_NAMES or key in self.metrics

    def to_dict(self) -> dict[str, Any]:
        """The record as written to its JSON file: fields, then metrics; ``path`` left out."""
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["status"] = self.status.value
        data.update(self.metrics)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | Path = "<trial record>") -> TrialRecord:
        """Validate ``data`` against ``trial_record.schema.json`` and build the record.

        Raises ``RecordError`` naming ``source``, the key path and what was expected.
        """
        validate_document(data, "trial_record", source)
        known = {name: value for name, value in data.items() if name in _FIELD_NAMES}
        metrics = {name: value for name, value in data.items() if name not in _FIELD_NAMES and name not in ("metrics", "path")}
        return cls(**known, metrics=metrics)


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrialRecord) if f.name not in ("metrics", "path"))


def _order_key(path: Path) -> tuple[int, int, str]:
    round_number = int(path.parent.parent.name) if path.parent.name == "trials" and _ROUND.match(path.parent.parent.name) else -1
    index = int(path.stem) if path.stem.isdigit() else -1
    return round_number, index, str(path)


def load_trial_records(paths: Iterable[str | Path]) -> list[TrialRecord]:
    """Records from trial files and folders of them (``*.json``), ordered by round and index.

    Each is validated against the trial-record schema (``RecordError`` names the
    file and key); ``round`` and ``index`` come from ``rounds/<round>/trials/<index>.json``
    where the record does not carry them. A missing path is ``FileNotFoundError``.
    """
    files: list[Path] = []
    for entry in paths:
        entry = Path(entry)
        if entry.is_dir():
            files.extend(p for p in entry.glob("*.json") if not p.name.startswith("."))
        elif entry.is_file():
            files.append(entry)
        else:
            raise FileNotFoundError(f"no trial file or folder at {entry}")
    records = []
    for path in sorted(set(files), key=_order_key):
        record = TrialRecord.from_dict(read_document(path, "trial_record"), source=path)
        round_number, index, _ = _order_key(path)
        if record.round is None and round_number >= 0:
            record.round = round_number
        if record.index is None and index >= 0:
            record.index = index
        record.path = str(path)
        records.append(record)
    return records


# --------------------------------------------------------------------------- tables
def _status_dtype() -> Any:
    import pandas as pd

    return pd.CategoricalDtype(categories=list(STATUSES))


_INTEGER_COLUMNS = ("round", "index", "samples", "eval_passes", "parameters", "trial_number", "stopped_at_rung")
_FLOAT_COLUMNS = (
    "performance",
    "samples_per_joule",
    "dynamic_samples_per_joule",
    "eval_joules",
    "eval_seconds",
    "train_joules",
    "train_seconds",
    "flops_per_sample",
    "overhead_seconds",
    "process_wall_seconds",
    "idle_watts",
    "min_window_seconds",
    "hypervolume",
    "lifecycle_samples_per_joule",
    "disturbance_share",
)
_BOOLEAN_COLUMNS = ("estimated", "skip_train", "knee", "disturbed", "train_below_resolution")
_STRING_COLUMNS = (
    "schema",
    "performance_metric",
    "energy_source",
    "energy_components",
    "error",
    "measurement_errors",
    "filled_defaults",
    "host",
    "slurm_job_id",
    "started_at",
    "finished_at",
    "reference_source",
    "space",
    "fingerprint",
    "min_window_source",
    "learning_curve_joules",
)
_FLOAT_PREFIXES = ("objective_", "reference_")


def table_dtypes(columns: Iterable[str]) -> dict[str, Any]:
    """The pandas dtype of each known column of trials.csv, frontier.csv and hypervolume.csv.

    Integers that may be missing are ``Int64``, flags ``boolean`` (both nullable),
    the status a category over every ``TrialStatus``, floats ``float64`` (NaN where
    missing). Columns not listed here (``param_*``, a function's own metrics) are
    left to pandas' inference.
    """
    dtypes: dict[str, Any] = {}
    for column in columns:
        if column == "status":
            dtypes[column] = _status_dtype()
        elif column in _INTEGER_COLUMNS:
            dtypes[column] = "Int64"
        elif column in _BOOLEAN_COLUMNS:
            dtypes[column] = "boolean"
        elif column in _STRING_COLUMNS:
            dtypes[column] = "string"
        elif column in _FLOAT_COLUMNS or (column.startswith(_FLOAT_PREFIXES) and column != "reference_source"):
            dtypes[column] = "float64"
    return dtypes


def table_frame(rows: Iterable[Mapping[str, Any]]) -> Any:
    """Rows (dicts) as a pandas DataFrame with the declared dtypes (``table_dtypes``)."""
    import pandas as pd

    frame = pd.DataFrame([dict(row) for row in rows])
    for column, dtype in table_dtypes(frame.columns).items():
        values = frame[column]
        if column == "status":
            values = values.map(lambda status: None if status is None else str(status))
        frame[column] = values.astype(dtype)
    return frame


def write_table(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write rows as CSV (atomically) through pandas; ``read_table`` reads it back with the same dtypes."""
    from ecopt.io import write_text

    return write_text(path, table_frame(rows).to_csv(index=False))


def read_table(path: str | Path) -> Any:
    """A table written by ``write_table`` as a DataFrame with its declared dtypes (an empty file: no rows)."""
    import pandas as pd

    path = Path(path)
    if path.stat().st_size <= 1:  # a table with no rows and so no header
        return pd.DataFrame()
    header = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(path, dtype=table_dtypes(header))


def as_trial_record(record: TrialRecord | Mapping[str, Any], source: str | Path = "<trial record>") -> TrialRecord:
    """``record`` itself when it is a ``TrialRecord``, else the mapping validated and converted.

    Raises ``RecordError`` (a ValueError) naming ``source``, the key path and what was expected.
    """
    return record if isinstance(record, TrialRecord) else TrialRecord.from_dict(record, source=source)
