"""``ecopt <stage> ...`` (or ``python -m ecopt <stage> ...``): one command that runs any stage's command line.

Every module with a ``main(argv) -> int`` is a stage; this command looks the module
up by name and hands it the rest of the arguments, so ``ecopt trial --help`` is the
trial stage's own help. The stage list and its one-line descriptions are written
here rather than read from the modules: ``ecopt --help`` then imports no stage (and
so no torch, Ax or CodeCarbon) and answers at once. ``tests/test_package.py`` checks
that every module with a ``main`` is listed, so a new stage cannot be forgotten.
"""

from __future__ import annotations

import importlib
import sys

# stage name -> (module, what it does), in workflow order.
STAGES: dict[str, tuple[str, str]] = {
    "data": ("ecopt.data", "prepare fixed-seed, stratified dataset splits (splits.npz, manifest.json)"),
    "calibration": ("ecopt.calibration", "repeat one evaluation and report the meter's spread and overhead"),
    "search": ("ecopt.search", "propose one round of trials (Ax/BoTorch qLogNEHVI)"),
    "trial": ("ecopt.trial", "run one configuration with metered training and evaluation; write its record"),
    "frontier": ("ecopt.frontier", "Pareto frontier, hypervolume trace, trial table and summary of a study"),
    "proxies": ("ecopt.proxies", "parameters and FLOPs against measured inference energy (correlations)"),
    "figures": ("ecopt.figures", "draw a study's figures from its tables"),
    "page": ("ecopt.frontier_page", "the interactive frontier: a self-contained HTML page (plotly), every trial with its configuration"),
    "status": ("ecopt.status", "where a study stands: rounds, trials by status, hypervolume, energy, time left (reads files only)"),
    "summary": ("ecopt.summary", "summary.json: frontier summary, the study's energy ledger and its net impact"),
    "ledger": ("ecopt.ledger", "run a stage and write its whole process's energy (ledger entry)"),
}


def usage() -> str:
    """The ``ecopt --help`` text: the command line and one line per stage."""
    width = max(len(name) for name in STAGES)
    lines = ["usage: ecopt <stage> [options]   (ecopt <stage> --help: that stage's options)", "", "stages:"]
    lines += [f"  {name:<{width}}  {description}" for name, (_, description) in STAGES.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``ecopt <stage> [options]``; ``argv`` defaults to ``sys.argv[1:]``.

    Returns the stage's exit status; 0 for ``--help``/``-h`` (usage on stdout); 2 with
    the usage on stderr for no stage or an unknown one (the value is named).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if not argv or argv[0] not in STAGES:
        problem = f"ecopt: unknown stage {argv[0]!r}; expected one of {list(STAGES)}\n" if argv else ""
        print(problem + usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(STAGES[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
