import json

import numpy as np
import pandas as pd
import pytest

from ecopt.errors import RecordError
from ecopt.frontier import trial_rows, write_frontier
from ecopt.objectives import parse_objectives
from ecopt.records import (
    STATUSES,
    TrialRecord,
    TrialStatus,
    load_schema,
    load_trial_records,
    read_proposals,
    read_summary,
    read_table,
    table_frame,
    validate_document,
    write_table,
)

# What an early-stopped record carries (ecopt.early_stopping.StopDecision.to_dict()).
STOP_DECISION = {"rung": 3, "rank": 4, "allowed": 2, "compared": 5, "reason": "rung 3: stop"}


def _write(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def full_record(**changes):
    """A record as ``ecopt.trial`` writes it (energies of a 2 s evaluation window)."""
    component = {"joules": 20.0, "source": "rapl_counter", "estimated": False, "average_watts": 10.0}
    energy = {
        "joules": 30.0,
        "seconds": 2.0,
        "cpu_seconds": 2.0,
        "cpu": component,
        "ram": {**component, "joules": 10.0, "source": "ram_power_model", "estimated": True},
        "gpu": None,
        "estimated": False,
        "energy_source": "cpu:rapl_counter+ram:ram_power_model",
    }
    record = {
        "schema": "ecopt.trial/2",
        "status": "completed",
        "error": None,
        "params": {"width": 8, "pooling": True, "padding": "same"},
        "filled_defaults": ["padding"],
        "measurement_errors": [],
        "performance_metric": "accuracy",
        "performance": 0.9,
        "samples": 300,
        "samples_per_joule": 10.0,
        "eval_joules": 30.0,
        "eval_seconds": 2.0,
        "eval_passes": 3,
        "train_joules": 50.0,
        "train_seconds": 4.0,
        "parameters": 1200,
        "flops_per_sample": 5.0e4,
        "energy_source": "cpu:rapl_counter+ram:ram_power_model",
        "estimated": False,
        "skip_train": False,
        "eval_energy": energy,
        "train_energy": {**energy, "joules": 50.0, "seconds": 4.0},
        "ran_on": {"host": "node1", "slurm_job_id": None},
    }
    record.update(changes)
    return record


def test_status_is_a_string_enum():
    assert TrialStatus("measurement_failed") is TrialStatus.MEASUREMENT_FAILED
    assert TrialStatus.COMPLETED == "completed" and f"{TrialStatus.OUT_OF_MEMORY}" == "out_of_memory"
    assert json.dumps({"status": TrialStatus.FAILED}) == '{"status": "failed"}'
    assert STATUSES == ("completed", "failed", "out_of_memory", "early_stopped", "measurement_failed")
    assert load_schema("trial_record")["properties"]["status"]["enum"] == list(STATUSES)
    with pytest.raises(ValueError):
        TrialRecord(params={}, status="done")


def test_round_trip_through_json(tmp_path):
    path = _write(tmp_path / "rounds" / "002" / "trials" / "5.json", {**full_record(), "seconds_per_batch": 0.25})
    [record] = load_trial_records([path])
    assert record.status is TrialStatus.COMPLETED and (record.round, record.index, record.path) == (2, 5, str(path))
    assert record.metrics == {"seconds_per_batch": 0.25} and record.get("seconds_per_batch") == 0.25 and record["samples_per_joule"] == 10.0
    assert record.eval_energy["cpu"]["joules"] == 20.0 and record.filled_defaults == ["padding"]
    data = record.to_dict()
    assert "path" not in data and data["status"] == "completed" and data["seconds_per_batch"] == 0.25
    again = TrialRecord.from_dict(json.loads(json.dumps(data)))
    again.path = record.path
    assert again == record


def test_records_are_ordered_by_round_then_index(tmp_path):
    for round_number, index in [(1, 0), (0, 10), (0, 2), (1, 1)]:
        _write(tmp_path / "rounds" / f"{round_number:03d}" / "trials" / f"{index}.json", {"params": {"i": index}, "status": "completed"})
    records = load_trial_records([tmp_path / "rounds" / "001" / "trials", tmp_path / "rounds" / "000" / "trials"])
    assert [(r.round, r.index) for r in records] == [(0, 2), (0, 10), (1, 0), (1, 1)]
    assert records[0].path.endswith("000/trials/2.json")


@pytest.mark.parametrize(
    "changes, key, expected",
    [
        ({"status": "done"}, "status", "one of ['completed', 'failed', 'out_of_memory', 'early_stopped', 'measurement_failed']"),
        (
            {"eval_energy": {**full_record()["eval_energy"], "cpu": {"joules": "20", "source": "rapl_counter", "estimated": False}}},
            "eval_energy.cpu.joules",
            "a value of JSON type number",
        ),
        ({"eval_joules": 0.0}, "eval_joules", "a number > 0"),
        ({"samples": 2.5}, "samples", "a value of JSON type integer or null"),
        ({"params": {"width": [8]}}, "params.width", "a value of JSON type number or string or boolean or null"),
        ({"status": "failed", "error": None}, "error", "a value of JSON type string"),
        ({"status": "measurement_failed", "error": "0 J", "samples_per_joule": 12.0}, "samples_per_joule", "a value of JSON type null"),
        ({"filled_defaults": "padding"}, "filled_defaults", "a value of JSON type array"),
    ],
)
def test_a_corrupted_record_names_file_key_and_expectation(tmp_path, changes, key, expected):
    path = _write(tmp_path / "rounds" / "000" / "trials" / "3.json", full_record(**changes))
    with pytest.raises(RecordError) as caught:
        load_trial_records([path.parent])
    assert caught.value.source == str(path) and caught.value.key == key and caught.value.expected == expected
    assert str(caught.value).startswith(f"{path}: key '{key}': got ")


def test_missing_keys_and_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_trial_records([tmp_path / "missing"])
    (tmp_path / "0.json").write_text("{not json")
    with pytest.raises(RecordError, match="valid JSON"):
        load_trial_records([tmp_path])
    (tmp_path / "0.json").write_text('{"status": "completed"}')
    with pytest.raises(RecordError) as caught:
        load_trial_records([tmp_path])
    assert caught.value.key == "params" and "required" in caught.value.expected


def test_temporary_files_are_ignored(tmp_path):
    _write(tmp_path / "0.json", {"params": {}, "status": "failed", "error": "boom"})
    (tmp_path / ".0.json.abc.tmp").write_text("{half")
    assert len(load_trial_records([tmp_path])) == 1


def test_older_records_still_load(tmp_path):
    old = full_record(schema="ecopt.trial/1")
    del old["filled_defaults"], old["measurement_errors"]
    [record] = load_trial_records([_write(tmp_path / "0.json", old)])
    assert record.filled_defaults == [] and record.schema == "ecopt.trial/1"


def test_proposals_as_the_search_writes_them(tmp_path):
    from ecopt.search import RoundProposals

    proposals = RoundProposals(
        round=1,
        proposals=[{"width": 8}, {"width": 16}],
        generator="qLogNEHVI",
        seed=1001,
        reference_point={
            "values": [0.5, 1.0],
            "raw_values": [0.5, 10.0],
            "objectives": ["performance", "efficiency"],
            "space": ["performance", "log10 samples_per_joule"],
            "source": "inferred",
        },
        history={"completed": 3, "failed": 1, "out_of_memory": 0, "total": 4},
        seconds={"total": 1.5},
    )
    path = tmp_path / "proposals.json"
    path.write_text(json.dumps(proposals.to_dict()))
    assert read_proposals(path)["proposals"][1] == {"index": 1, "params": {"width": 16}}
    broken = proposals.to_dict()
    broken["proposals"][1]["index"] = -1
    path.write_text(json.dumps(broken))
    with pytest.raises(RecordError) as caught:
        read_proposals(path)
    assert caught.value.key == "proposals[1].index" and caught.value.expected == "a number >= 0"


def test_summary_schema_refuses_a_summary_without_status_counts(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"efficiency_metric": "samples_per_joule", "completed": 0, "trials": 0}))
    with pytest.raises(RecordError) as caught:
        read_summary(path)
    assert caught.value.key == "statuses"
    with pytest.raises(RecordError):
        validate_document({"efficiency_metric": "x", "completed": 0, "trials": 0, "statuses": {"completed": 0}}, "summary", "memory")


def _study_records():
    records = [
        full_record(round=0, index=0),
        full_record(round=0, index=1, performance=0.7, samples_per_joule=40.0, estimated=None),
        full_record(round=0, index=2, status="out_of_memory", error="CUDA out of memory", performance=None, samples_per_joule=0.0),
        full_record(round=1, index=0, status="measurement_failed", error="MeasurementError: 0 J", samples_per_joule=None, eval_joules=None, eval_energy=None),
        full_record(round=1, index=1, status="early_stopped", performance=None, samples_per_joule=None, stopped_at_rung=3, early_stopping=STOP_DECISION),
    ]
    return [TrialRecord.from_dict(r) for r in records]


def test_tables_keep_their_types_through_csv(tmp_path):
    write_frontier(_study_records(), parse_objectives(None), tmp_path)
    trials = read_table(tmp_path / "trials.csv")
    assert isinstance(trials["status"].dtype, pd.CategoricalDtype) and list(trials["status"].cat.categories) == list(STATUSES)
    assert trials["status"].tolist() == ["completed", "completed", "out_of_memory", "measurement_failed", "early_stopped"]
    assert trials["status"].value_counts()["failed"] == 0  # every status is a category, present or not
    assert str(trials["estimated"].dtype) == "boolean"  # read as booleans, not the texts "True"/"False"
    assert trials["estimated"].isna().tolist() == [False, True, False, False, False] and not trials["estimated"][0]
    assert str(trials["round"].dtype) == "Int64" and str(trials["parameters"].dtype) == "Int64"
    assert trials["samples_per_joule"].dtype == np.float64 and np.isnan(trials["samples_per_joule"][3])
    assert trials["param_pooling"].dtype == bool and trials["filled_defaults"].tolist()[0] == "padding"
    expected = table_frame(trial_rows(_study_records()))
    pd.testing.assert_frame_equal(trials, expected, check_dtype=True)
    frontier = read_table(tmp_path / "frontier.csv")
    assert str(frontier["knee"].dtype) == "boolean" and frontier["knee"].sum() == 1
    hypervolume = read_table(tmp_path / "hypervolume.csv")
    assert str(hypervolume["trial_number"].dtype) == "Int64" and hypervolume["status"].tolist()[3] == "measurement_failed"
    assert read_summary(tmp_path / "summary.json")["statuses"] == {"completed": 2, "failed": 0, "out_of_memory": 1, "early_stopped": 1, "measurement_failed": 1}


def test_an_empty_table_reads_back_empty(tmp_path):
    write_table(tmp_path / "frontier.csv", [])
    assert read_table(tmp_path / "frontier.csv").empty
