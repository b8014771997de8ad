"""The study's ``summary.json``: the frontier's headline figures, the study energy ledger and the net impact.

It is the last job of a study, after the frontier and the figures, because the
ledger must count every job: it reads every other job's ledger entry
(``ecopt.ledger``) and, when it runs under the ledger itself (as the workflow
runs it), adds its own energy up to the moment before the write (the entry of
the running ledger; the few milliseconds of the write itself are not counted).
Its own final entry is still written beside the others, for the record.

Runnable as ``python -m ecopt.summary --settings JSON --frontier-summary FILE
--trials DIR... --ledger DIR... --out summary.json [--html net_impact.html]``.

``--html`` also writes the study energy and the net impact as one small
self-contained HTML page (``summary_html``): Snakemake's ``--report`` shows an HTML
output inline, while a caption is a template that cannot read a job's results, so
this page is how the numbers reach the report. Plain HTML from the standard
library's ``html.escape``: a table of a dozen rows needs no template engine.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# The config entries this stage reads (the workflow passes this slice of the study).
SUMMARY_SECTIONS = ["objectives", "search", "net_impact", "deployment"]


def study_summary(
    frontier_summary: Mapping[str, Any],
    records: Sequence[Any],
    entries: Sequence[Mapping[str, Any]],
    settings: Any,
    own_entry: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``frontier_summary`` plus ``study_energy`` (every entry, and ``own_entry`` when given) and ``net_impact``.

    ``settings`` is a ``StudySettings`` with the ``SUMMARY_SECTIONS``. Raises
    ``ValueError`` when there is no ledger entry at all.
    """
    from ecopt.ledger import kg_co2eq_per_joule, study_energy
    from ecopt.net_impact import net_impact, with_lifecycle_efficiency
    from ecopt.settings import thaw

    all_entries = list(entries) + ([dict(own_entry)] if own_entry is not None else [])
    energy = study_energy(all_entries)
    energy["summary_stage_included"] = own_entry is not None
    trial_entries = [e for e in all_entries if e["stage"] == "trial"]
    energy["trial_overhead_joules"] = sum(e["total_joules"] - e["inside_windows_joules"] for e in trial_entries)
    energy["trial_windows_joules"] = sum(e["inside_windows_joules"] for e in trial_entries)
    total = energy["total_joules"]
    energy["share_outside_trial_windows"] = (total - energy["trial_windows_joules"]) / total if total > 0 else None
    summary = dict(frontier_summary)
    summary["study_energy"] = energy
    from ecopt.early_stopping import training_energy_comparison

    stopped = training_energy_comparison(records)
    if stopped is not None:  # what early stopping saved, trial by trial
        summary["early_stopping"] = stopped
    summary["net_impact"] = net_impact(
        with_lifecycle_efficiency(records, settings.deployment.inferences),
        list(settings.objectives),
        choice=settings.net_impact.choice,
        performance_floor=settings.net_impact.performance_floor,
        performance_tolerance=settings.net_impact.performance_tolerance,
        baseline=thaw(settings.search.baseline),
        study_joules=energy["total_joules"],
        kg_co2eq_per_joule=kg_co2eq_per_joule(energy),
        deployment_inferences=settings.deployment.inferences,
    )
    return summary


def _joules(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value:,.6g} J".replace(",", " ")


def _params(params: Mapping[str, Any]) -> str:
    import json

    return json.dumps(dict(params), sort_keys=True)


def _performance(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "-"


def summary_html(summary: Mapping[str, Any]) -> str:
    """A self-contained HTML page of ``summary``'s ``study_energy`` and ``net_impact`` (the report's numbers).

    Rows: total joules (and whether estimated), joules per stage, the share
    outside the trials' metered windows, emissions; the chosen model (how, params,
    performance, J per inference), the baseline, the joules saved per inference,
    ``break_even_inferences`` or the ``reason`` there is none, and the deployment's
    net joules when given. Every value is escaped.
    """
    from html import escape

    energy, impact = summary["study_energy"], summary["net_impact"]
    rows: list[tuple[str, str]] = [("study energy (total)", _joules(energy["total_joules"]) + (" (ESTIMATED)" if energy.get("estimated") else ""))]
    rows += [(f"  stage {stage}", _joules(joules)) for stage, joules in energy["by_stage"].items()]
    share = energy.get("share_outside_trial_windows")
    if share is not None:
        rows.append(("share outside the trials' metered windows", f"{100 * share:.1f} %"))
    rows.append(("emissions", f"{energy['emissions_kg_co2eq']:.3g} kg CO2eq"))
    chosen, baseline = impact.get("chosen"), impact.get("baseline")
    if chosen is not None:
        rows.append(("chosen model", f"{chosen['how']}: {_params(chosen['params'])}, performance {_performance(chosen['performance'])}"))
        rows.append(("  joules per inference", _joules(chosen["joules_per_inference"])))
    if baseline is not None:
        rows.append(("baseline", f"{_params(baseline['params'])}, performance {_performance(baseline.get('performance'))}"))
        rows.append(("  joules per inference", _joules(baseline.get("joules_per_inference"))))
    if "joules_saved_per_inference" in impact:
        rows.append(("joules saved per inference", _joules(impact["joules_saved_per_inference"])))
    breakeven = impact["break_even_inferences"]
    rows.append(("break-even inferences", f"{breakeven:,.0f}".replace(",", " ") if breakeven is not None else "none"))
    if impact.get("reason"):
        rows.append(("reason", impact["reason"]))
    deployment = impact.get("deployment")
    if deployment is not None:
        rows.append((f"net saving at {deployment['inferences']} inferences", _joules(deployment["net_joules_saved"])))
    body = "\n".join(f"<tr><th>{escape(name)}</th><td>{escape(str(value))}</td></tr>" for name, value in rows)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Study energy and net impact</title>'
        "<style>body{font-family:sans-serif}th{text-align:left;padding-right:1em;white-space:pre}td{padding:2px}</style></head>"
        f"<body><h3>Study energy and net impact</h3><table>\n{body}\n</table></body></html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopt.summary``: write summary.json; exit 2 for bad settings or an unreadable input (named)."""
    from ecopt.cli import add_study_arguments, study_mapping

    parser = argparse.ArgumentParser(prog="python -m ecopt.summary", description="summary.json: frontier summary, study energy ledger and net impact.")
    add_study_arguments(parser)
    parser.add_argument("--frontier-summary", required=True, help="the frontier stage's summary (JSON)")
    parser.add_argument("--trials", nargs="+", required=True, help="trial record files or folders")
    parser.add_argument("--ledger", nargs="+", required=True, help="ledger entry files or folders of every other job")
    parser.add_argument("--out", required=True, help="summary.json to write")
    parser.add_argument("--html", default=None, help="also write the study energy and net impact as an HTML page (the report's numbers)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    from ecopt.errors import ConfigError
    from ecopt.io import json_ready, read_json, write_json
    from ecopt.ledger import active_ledger, read_entries
    from ecopt.records import load_trial_records, validate_document
    from ecopt.settings import validate_study

    out = Path(args.out)
    try:
        settings = validate_study(study_mapping(args, fill_baseline=True), sections=SUMMARY_SECTIONS)
        records = load_trial_records(args.trials)
        entries = read_entries(args.ledger)
        frontier = read_json(args.frontier_summary)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"ecopt.summary: {error}", file=sys.stderr)
        return 2
    ledger = active_ledger()
    own = ledger.entry() if ledger is not None else None
    summary = json_ready(study_summary(frontier, records, entries, settings, own))
    validate_document(summary, "summary", out)
    write_json(out, summary)
    if args.html is not None:
        from ecopt.io import write_text

        write_text(args.html, summary_html(summary))
    energy, impact = summary["study_energy"], summary["net_impact"]
    logger.info(
        "study energy %.1f J (%d jobs, %.0f%% outside the trials' metered windows); break-even inferences %s -> %s",
        energy["total_joules"],
        energy["jobs"],
        100 * (energy["share_outside_trial_windows"] or 0),
        impact["break_even_inferences"] if impact["break_even_inferences"] is not None else f"none ({impact.get('reason')})",
        out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
