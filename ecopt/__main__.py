"""``python -m ecopt <stage> ...`` / ``ecopt <stage> ...``: run one stage's command line."""

from __future__ import annotations

import importlib
import sys

STAGES = {
    "data": "ecopt.data",
    "trial": "ecopt.trial",
    "search": "ecopt.search",
    "frontier": "ecopt.frontier",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in STAGES:
        print(f"usage: ecopt {{{','.join(STAGES)}}} [options]   (each stage has --help)", file=sys.stderr)
        return 2
    module = importlib.import_module(STAGES[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
