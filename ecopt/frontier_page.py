"""The interactive frontier: one self-contained HTML page per study (plotly), linked from the Snakemake report.

Every trial is a point coloured by status; the Pareto frontier is a line and the
knee a star; hovering a point shows its configuration, performance, samples/J,
joules, energy source and round. Efficiency gets error bars from the meter's
calibration spread (``calibration/summary.json``: samples/J RSD) when the study
calibrated, an axis turns logarithmic where its values span two orders of
magnitude or more, and a red line says ESTIMATED when any joules are time x an
assumed power rather than a counter's reading.

Design choices:

* **Numbers first, picture second** (as ``ecopt.figures``): ``frontier_page_data``
  turns the frontier stage's tables into exactly what the page shows (tested for
  values); ``frontier_figure`` only draws it.
* **plotly** (installed with Ax) draws it, as SVG (``go.Scatter``, not WebGL): a
  headless browser without a GPU renders it, and each point is a DOM element
  (``.scatterlayer .point``), which is what the browser test counts.
* **Self-contained**: ``include_plotlyjs=True`` inlines plotly.js, so the page
  opens from a laptop, a report archive or an MLflow artifact with no network
  (about 4.7 MB with plotly 7.1).
* **Early-stopped trials** (``ecopt.early_stopping``) sit at their partial
  performance and their efficiency (measured before training), in their own colour.
* **Trials without efficiency are still shown**: failed, out-of-memory and
  measurement-failed trials have no samples/J (or 0), which a log axis
  cannot place; they sit on a strip below the lowest measured efficiency, marked
  "x" and spread along it (most have no performance either), with their status
  and error text in the hover.
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ecopt.records import TrialStatus

logger = logging.getLogger(__name__)

# One colour per status, the same in every study (plotly's qualitative palette, colour-blind friendly order).
STATUS_COLOURS = {
    TrialStatus.COMPLETED.value: "#1f77b4",
    TrialStatus.EARLY_STOPPED.value: "#9467bd",
    TrialStatus.OUT_OF_MEMORY.value: "#d62728",
    TrialStatus.FAILED.value: "#7f7f7f",
    TrialStatus.MEASUREMENT_FAILED.value: "#ff7f0e",
}
# An axis whose largest positive value is at least this many times its smallest is drawn logarithmic.
LOG_AXIS_RATIO = 100.0


def spans_orders_of_magnitude(values: Any, ratio: float = LOG_AXIS_RATIO) -> bool:
    """True when the positive, finite ``values`` span a factor of ``ratio`` or more (and none is <= 0)."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    if len(array) < 2 or np.any(array <= 0):
        return False
    return bool(array.max() / array.min() >= ratio)


def _cell(value: Any) -> Any:
    """A table cell as a plain value: None for NaN and pandas' NA."""
    import pandas as pd

    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _hover(row: Mapping[str, Any], performance_label: str, parameters: list[str]) -> str:
    """One point's hover text (plotly reads ``<br>`` as a line break; values are HTML-escaped)."""

    def number(value: Any, digits: str = ".4g") -> str:
        return "-" if value is None else format(float(value), digits)

    lines = [f"<b>trial {row.get('round')}-{row.get('index')}</b> ({row.get('status')}), round {row.get('round')}"]
    lines += [f"{html.escape(name)} = {html.escape(str(row.get('param_' + name)))}" for name in parameters]
    lines.append(f"{html.escape(performance_label)} = {number(row.get('performance'))}")
    lines.append(f"samples/J = {number(row.get('samples_per_joule'))}")
    lines.append(f"joules: eval {number(row.get('eval_joules'))} J, train {number(row.get('train_joules'))} J")
    source = row.get("energy_source") or "unknown"
    lines.append(f"energy source: {html.escape(str(source))}" + (" (ESTIMATED)" if row.get("estimated") else ""))
    if row.get("error"):
        lines.append(f"error: {html.escape(str(row['error'])[:120])}")
    return "<br>".join(lines)


def frontier_page_data(trials: Any, frontier: Any, calibration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the page shows, from ``trials.csv`` and ``frontier.csv`` (pandas frames, ``ecopt.records.read_table``).

    Returns a dict:

    * ``series``: status -> ``{"x", "y", "hover", "error_y"}`` (lists; x the performance,
      y samples/J; trials without a measured efficiency at ``floor``, ``error_y`` the
      calibration's RSD x y for completed trials, else None);
    * ``frontier``: ``{"x", "y"}`` sorted by performance; ``knee``: ``{"x", "y"}`` (0 or 1 point);
    * ``disturbed``: ``{"x", "y"}`` of the drawn trials whose windows stayed disturbed by other
      processes (``disturbed`` column, machine mode; ``ecopt.meter``);
    * ``log_x``, ``log_y``: bools (``spans_orders_of_magnitude`` of the completed values);
    * ``floor``: the efficiency where trials without one are drawn;
    * ``rsd``: the calibration's samples/J RSD (a fraction) or None;
    * ``estimated``: any joules estimated; ``note``: the energy line (``ecopt.figures.energy_note``);
    * ``counts``: trials by status; ``performance_label``: the performance metric's name.
    """
    from ecopt.figures import energy_note, status_counts

    rows = [{key: _cell(value) for key, value in row.items()} for row in trials.to_dict("records")]
    parameters = sorted(column.removeprefix("param_") for column in trials.columns if str(column).startswith("param_"))
    label = next((str(r["performance_metric"]) for r in rows if r.get("performance_metric")), "performance")
    completed = [r for r in rows if r.get("status") == TrialStatus.COMPLETED.value and r.get("samples_per_joule") is not None]
    efficiencies = [float(r["samples_per_joule"]) for r in completed]
    performances = [float(r["performance"]) for r in completed if r.get("performance") is not None]
    log_y = spans_orders_of_magnitude(efficiencies)
    positive = [value for value in efficiencies if value > 0]
    floor = (min(positive) / 2 if log_y else 0.0) if positive else 0.0
    # Trials without a performance are spread evenly along the strip, so that none hides another.
    unplaced = [position for position, r in enumerate(rows) if r.get("performance") is None]
    low, high = (min(performances), max(performances)) if performances else (0.0, 1.0)
    strip_x = dict(zip(unplaced, np.linspace(low, high, len(unplaced) + 2)[1:-1].tolist(), strict=True))
    rsd = None
    if calibration and isinstance(calibration.get("samples_per_joule_rsd"), (int, float)):
        rsd = float(calibration["samples_per_joule_rsd"])
    series: dict[str, dict[str, list[Any]]] = {}
    disturbed: dict[str, list[float]] = {"x": [], "y": []}
    for position, row in enumerate(rows):
        status = str(row.get("status"))
        entry = series.setdefault(status, {"x": [], "y": [], "hover": [], "error_y": []})
        efficiency = row.get("samples_per_joule")
        has_values = status in (TrialStatus.COMPLETED.value, TrialStatus.EARLY_STOPPED.value)
        measured = has_values and efficiency is not None and (float(efficiency) > 0 or not log_y)
        entry["x"].append(float(row["performance"]) if row.get("performance") is not None else strip_x[position])
        entry["y"].append(float(efficiency) if measured else floor)
        entry["hover"].append(_hover(row, label, parameters))
        entry["error_y"].append(rsd * float(efficiency) if measured and rsd is not None else None)
        if row.get("disturbed") is True:
            disturbed["x"].append(entry["x"][-1])
            disturbed["y"].append(entry["y"][-1])
    line = frontier.sort_values("performance") if len(frontier) else frontier
    knee = frontier[frontier["knee"].fillna(False).astype(bool)] if "knee" in frontier and len(frontier) else frontier.iloc[:0]
    return {
        "series": series,
        "frontier": {"x": line["performance"].astype(float).tolist(), "y": line["samples_per_joule"].astype(float).tolist()}
        if len(line)
        else {"x": [], "y": []},
        "knee": {"x": knee["performance"].astype(float).tolist(), "y": knee["samples_per_joule"].astype(float).tolist()} if len(knee) else {"x": [], "y": []},
        "disturbed": disturbed,
        "log_x": spans_orders_of_magnitude(performances),
        "log_y": log_y,
        "floor": floor,
        "rsd": rsd,
        "estimated": any(bool(r.get("estimated")) for r in rows),
        "note": energy_note([r.get("energy_source") for r in rows], [r.get("estimated") for r in rows]),
        "counts": status_counts(trials),
        "performance_label": label,
    }


def frontier_figure(data: Mapping[str, Any], title: str = "Pareto frontier") -> Any:
    """The plotly ``Figure`` of ``frontier_page_data``'s output: one trace per status, the frontier, the knee."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for status, entry in data["series"].items():
        completed = status == TrialStatus.COMPLETED.value
        errors = entry["error_y"]
        figure.add_trace(
            go.Scatter(
                x=entry["x"],
                y=entry["y"],
                mode="markers",
                name=f"{status.replace('_', ' ')} ({len(entry['x'])})",
                marker={"color": STATUS_COLOURS.get(status, "#17becf"), "size": 10 if completed else 9, "symbol": "circle" if completed else "x"},
                error_y={"type": "data", "array": [e if e is not None else 0 for e in errors], "visible": True, "thickness": 1}
                if any(e is not None for e in errors)
                else None,
                hovertext=entry["hover"],
                hoverinfo="text",
            )
        )
    if data["frontier"]["x"]:
        figure.add_trace(
            go.Scatter(
                x=data["frontier"]["x"],
                y=data["frontier"]["y"],
                mode="lines",
                line={"shape": "vh", "color": "#ff7f0e", "width": 2},  # the dominated region's edge: down, then across
                name="Pareto frontier",
                hoverinfo="skip",
            )
        )
    if data["knee"]["x"]:
        figure.add_trace(
            go.Scatter(
                x=data["knee"]["x"],
                y=data["knee"]["y"],
                mode="markers",
                marker={"symbol": "star", "size": 18, "color": "#d62728", "line": {"width": 1, "color": "black"}},
                name="knee",
                hoverinfo="skip",
            )
        )
    if data.get("disturbed", {}).get("x"):
        figure.add_trace(
            go.Scatter(
                x=data["disturbed"]["x"],
                y=data["disturbed"]["y"],
                mode="markers",
                marker={"symbol": "circle-open", "size": 18, "color": "black", "line": {"width": 1.5}},
                name=f"disturbed window ({len(data['disturbed']['x'])})",
                hoverinfo="skip",
            )
        )
    notes = [html.escape(data["note"])]
    if data.get("rsd") is not None:
        notes.append(f"error bars: the meter's calibration spread, samples/J RSD {data['rsd']:.2%}")
    if len(data["series"]) > 1:
        notes.append("x: trials without a measured efficiency, on the bottom strip")
    figure.update_layout(
        title={"text": f"{html.escape(title)}<br><sup>" + "<br>".join(notes) + "</sup>"},
        xaxis={"title": data["performance_label"], "type": "log" if data["log_x"] else "linear"},
        yaxis={"title": "samples per joule (evaluation)", "type": "log" if data["log_y"] else "linear"},
        template="plotly_white",
        hovermode="closest",
        legend={"title": "status"},
        margin={"b": 90, "t": 110},
    )
    if data["estimated"]:
        figure.add_annotation(
            text="ESTIMATED: joules are run time x an assumed power, no energy counter was read",
            xref="paper",
            yref="paper",
            x=0,
            y=-0.16,
            showarrow=False,
            font={"color": "firebrick", "size": 13},
            xanchor="left",
        )
    return figure


def write_frontier_page(study_dir: str | Path, out: str | Path, title: str | None = None) -> Path:
    """Write the page for the study in ``study_dir`` (its ``trials.csv``, ``frontier.csv`` and, when present,
    ``calibration/summary.json``) to ``out``, atomically; returns ``out``. ``FileNotFoundError`` without ``trials.csv``."""
    from ecopt.io import read_json, write_text
    from ecopt.records import read_table

    study = Path(study_dir)
    trials = read_table(study / "trials.csv")
    frontier = read_table(study / "frontier.csv") if (study / "frontier.csv").is_file() else trials.iloc[:0]
    calibration_path = study / "calibration" / "summary.json"
    calibration = read_json(calibration_path) if calibration_path.is_file() else None
    data = frontier_page_data(trials, frontier, calibration)
    figure = frontier_figure(data, title or f"{study.resolve().name}: performance against energy efficiency")
    page = figure.to_html(include_plotlyjs=True, full_html=True, div_id="frontier", config={"displaylogo": False})
    return write_text(out, page)


def main(argv: list[str] | None = None) -> int:
    """``ecopt page --study-dir results/<study> --out FILE.html [--settings JSON]``: write the interactive frontier page."""
    from ecopt.cli import study_mapping
    from ecopt.errors import ConfigError

    parser = argparse.ArgumentParser(prog="ecopt page", description="The interactive frontier of a study: a self-contained HTML page.")
    parser.add_argument("--study-dir", required=True, help="results/<study>, after the frontier stage")
    parser.add_argument("--out", required=True, help="the HTML page to write")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", help="a study config (YAML): its mlflow section attaches the page to the study's MLflow run")
    source.add_argument("--settings", help="the same as one JSON object (what the workflow passes)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        mapping = study_mapping(args) if (args.config or args.settings) else {}
        from ecopt.settings import validate_study

        tracking = validate_study(mapping, sections=["mlflow"]).mlflow
        path = write_frontier_page(args.study_dir, args.out)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"ecopt page: {error}", file=sys.stderr)
        return 2
    logger.info("wrote %s", path)
    if tracking is not None:
        from ecopt.tracking import log_study_artifacts_safely

        log_study_artifacts_safely(tracking, str(mapping.get("study") or Path(args.study_dir).resolve().name), [path])
    return 0


if __name__ == "__main__":
    sys.exit(main())
