import json
import math

import numpy as np
import pytest

from ecopt.io import read_json, write_json, write_text


def test_write_json_is_atomic_and_valid(tmp_path):
    target = tmp_path / "sub" / "record.json"
    write_json(target, {"a": np.float32(1.5), "nan": math.nan, "n": np.int64(3), "list": (1, 2)})
    assert read_json(target) == {"a": 1.5, "nan": None, "n": 3, "list": [1, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "record.json"
    write_text(target, '{"old": true}')

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json(target, {"bad": Unserialisable()})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    """Results must be readable by others on a shared machine (umask 022 -> 0644)."""
    import os
    import stat

    previous = os.umask(0o022)
    try:
        path = write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
