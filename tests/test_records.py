import json

import pytest

from ecopt.records import load_trial_records


def _write(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_records_are_ordered_by_round_then_index(tmp_path):
    for round_number, index in [(1, 0), (0, 10), (0, 2), (1, 1)]:
        _write(tmp_path / "rounds" / f"{round_number:03d}" / "trials" / f"{index}.json", {"params": {"i": index}, "status": "completed"})
    records = load_trial_records([tmp_path / "rounds" / "001" / "trials", tmp_path / "rounds" / "000" / "trials"])
    assert [(r["round"], r["index"]) for r in records] == [(0, 2), (0, 10), (1, 0), (1, 1)]
    assert records[0]["path"].endswith("000/trials/2.json")


def test_bad_records_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_trial_records([tmp_path / "missing"])
    (tmp_path / "0.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_trial_records([tmp_path])
    (tmp_path / "0.json").write_text('{"status": "completed"}')
    with pytest.raises(ValueError, match="lacks 'params'"):
        load_trial_records([tmp_path])


def test_temporary_files_are_ignored(tmp_path):
    _write(tmp_path / "0.json", {"params": {}, "status": "failed"})
    (tmp_path / ".0.json.abc.tmp").write_text("{half")
    assert len(load_trial_records([tmp_path])) == 1
