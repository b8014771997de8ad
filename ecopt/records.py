"""Reading trial records back: the optimiser's history and the frontier's input.

Trial records live at ``rounds/<round>/trials/<index>.json``; each carries its
params, status and metrics (see ``ecopt.trial``). Readers take folders or files
and return records in a stable order (round, then index), each tagged with
``round``, ``index`` and ``path``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

_ROUND = re.compile(r"^\d+$")


def _order_key(path: Path) -> tuple[int, int, str]:
    round_number = int(path.parent.parent.name) if path.parent.name == "trials" and _ROUND.match(path.parent.parent.name) else -1
    index = int(path.stem) if path.stem.isdigit() else -1
    return round_number, index, str(path)


def load_trial_records(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Records from trial files and folders of them (``*.json``), ordered by round and index."""
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
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"trial record {path} is not valid JSON: {error}") from None
        if not isinstance(record, dict) or "params" not in record or "status" not in record:
            raise ValueError(f"trial record {path} lacks 'params' or 'status'")
        round_number, index, _ = _order_key(path)
        record.setdefault("round", round_number if round_number >= 0 else None)
        record.setdefault("index", index if index >= 0 else None)
        record["path"] = str(path)
        records.append(record)
    return records
