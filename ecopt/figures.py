"""Figures of a study: numbers first (tested), pictures second (seaborn).

Each ``*_data`` function turns a stage's tables into exactly what its figure
shows; each ``draw_*`` function only draws that. Every figure states its energy
source and says ESTIMATED where the joules are time x an assumed power.

Tables are read with their declared dtypes (``ecopt.records.read_table``):
``knee`` and ``estimated`` are booleans, ``status`` a category over every
``TrialStatus``, so every figure counts every status the same way. Completed
trials are drawn as points; early-stopped ones (``ecopt.early_stopping``) in a
colour of their own, at their partial performance and measured efficiency, never
on the frontier; the other statuses are counted in the legend.

Runnable as ``python -m ecopt.figures --config FILE --study-dir DIR --out-dir DIR``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecopt.records import TrialStatus
from ecopt.settings import FiguresSettings, validate_section, validate_study

logger = logging.getLogger(__name__)


def energy_note(sources: Sequence[Any], estimated: Sequence[Any]) -> str:
    """'Energy: <source>' plus ESTIMATED when any measurement is an estimate."""
    names = sorted({str(s) for s in sources if isinstance(s, str) and s})
    flags = [bool(e) for e in estimated if not _is_missing(e)]
    text = "Energy: " + (", ".join(names) if names else "unknown source")
    if any(flags):
        text += "  (ESTIMATED: time x assumed power, no energy counter)"
    return text


def _is_missing(value: Any) -> bool:
    """None, NaN or pandas' ``pd.NA`` (a nullable column's gap, which has no truth value)."""
    import pandas as pd

    return bool(pd.isna(value))


def status_counts(trials: Any) -> dict[str, int]:
    """Trials by status, every ``TrialStatus`` listed (0 where none)."""
    statuses = trials["status"].astype(str) if "status" in trials else []
    return {status.value: int(sum(value == status.value for value in statuses)) for status in TrialStatus}


def not_completed_note(counts: Mapping[str, int]) -> str:
    """'not shown: 2 out of memory (efficiency 0), 1 measurement failed', or '' when every trial completed."""
    parts = []
    for status in TrialStatus:
        if status in (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED) or not counts.get(status.value):  # both drawn
            continue
        label = status.value.replace("_", " ")
        parts.append(f"{counts[status.value]} {label}" + (" (efficiency 0)" if status is TrialStatus.OUT_OF_MEMORY else ""))
    return "not shown: " + ", ".join(parts) if parts else ""


# --------------------------------------------------------------------------- data
def pareto_data(trials: Any, frontier: Any, performance: str = "performance", efficiency: str = "samples_per_joule") -> dict[str, Any]:
    """What the Pareto figure shows, from the ``trials`` and ``frontier`` tables (pandas, as ``read_table`` reads them).

    Returns ``points`` (completed trials), ``early_stopped`` (early-stopped trials
    with both values: partial performance, efficiency), ``frontier`` (sorted by
    performance) and ``knee``: float arrays of shape (n, 2), columns (performance,
    efficiency in samples per joule); ``disturbed`` (bool, shape (len(points),)): the
    completed trial's window stayed disturbed by other processes (``ecopt.meter``);
    ``counts`` (``status_counts``), the energy ``note`` and the x-axis
    ``performance_label``. A missing column raises KeyError.
    """
    completed = trials[trials["status"] == TrialStatus.COMPLETED.value]
    stopped = trials[trials["status"] == TrialStatus.EARLY_STOPPED.value][[performance, efficiency]].to_numpy(dtype=float).reshape(-1, 2)
    line = frontier.sort_values(performance) if len(frontier) else frontier
    knee = frontier[frontier["knee"].fillna(False).astype(bool)] if "knee" in frontier else frontier.iloc[:0]
    disturbed = completed["disturbed"].fillna(False).to_numpy(dtype=bool) if "disturbed" in completed else np.zeros(len(completed), dtype=bool)
    return {
        "points": completed[[performance, efficiency]].to_numpy(dtype=float),
        "disturbed": disturbed,
        "early_stopped": stopped[np.all(np.isfinite(stopped), axis=1)],
        "frontier": line[[performance, efficiency]].to_numpy(dtype=float),
        "knee": knee[[performance, efficiency]].to_numpy(dtype=float),
        "counts": status_counts(trials),
        "note": energy_note(list(trials.get("energy_source", [])), list(trials.get("estimated", []))),
        "performance_label": str(trials["performance_metric"].dropna().iloc[0])
        if "performance_metric" in trials and trials["performance_metric"].notna().any()
        else performance,
    }


def hypervolume_data(hypervolume: Any) -> dict[str, Any]:
    """What the hypervolume figure shows, from hypervolume.csv (pandas): arrays of shape (n,).

    ``trial_number`` (int), ``hypervolume`` (float, in the product of the objectives'
    units), ``round`` (float, NaN where a record has no round), and the strings
    ``space`` and ``reference`` (where the reference point came from); KeyError on a
    missing column.
    """
    return {
        "trial_number": hypervolume["trial_number"].to_numpy(dtype=int),
        "hypervolume": hypervolume["hypervolume"].to_numpy(dtype=float),
        "round": hypervolume["round"].to_numpy(dtype=float, na_value=np.nan),  # a record without a round: NaN, never pd.NA
        "space": str(hypervolume["space"].iloc[0]) if len(hypervolume) else "",
        "reference": str(hypervolume["reference_source"].iloc[0]) if len(hypervolume) else "",
    }


def proxy_data(runs: Any, stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Two scatter panels (parameters, FLOPs per sample) against ``stats['target']`` (joules per inference).

    ``runs`` is the proxy study's runs.csv (pandas), ``stats`` its stats.json
    (``ecopt.proxies.correlation_stats``). Each panel holds ``x``, ``y`` (float arrays of
    shape (n,)), axis labels and a title with Pearson r, its 95% CI, p and Spearman
    rho. KeyError on a missing column or statistic.
    """
    panels = []
    for proxy, label in (("parameters", "parameters"), ("flops_per_sample", "FLOPs per sample")):
        entry = stats[f"{proxy}_vs_{stats['target']}"]
        panels.append(
            {
                "x": runs[proxy].to_numpy(dtype=float),
                "y": runs[stats["target"]].to_numpy(dtype=float),
                "xlabel": label,
                "ylabel": "joules per inference",
                "title": f"Pearson r = {entry['pearson_r']:.2f}, 95% CI [{entry['pearson_ci_low']:.2f}, {entry['pearson_ci_high']:.2f}], "
                f"p = {entry['pearson_p']:.2g}\nSpearman rho = {entry['spearman_rho']:.2f}, n = {len(runs)}",
            }
        )
    return panels


def calibration_data(runs: Any, summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the calibration figure shows, from calibration runs.csv (pandas) and its summary.json.

    Per repeat, arrays of shape (n,): ``window_seconds`` (float; the summary's window
    for a runs.csv without the column), ``repeat`` (int), ``samples_per_joule``
    (float), ``deviation`` (its relative deviation from its window's mean, a fraction)
    and ``disturbed`` (bool). ``windows``: one (window seconds, samples/J RSD or None,
    met) per window tried; ``chosen`` (seconds); ``mean`` (samples per joule at the
    chosen window), ``rsd`` and ``bound`` (fractions), ``passed`` and the energy
    ``note``. KeyError on a missing column or key.
    """
    window = runs["window_seconds"].to_numpy(dtype=float) if "window_seconds" in runs else np.full(len(runs), float(summary.get("window_seconds") or 0.0))
    efficiency = runs["samples_per_joule"].to_numpy(dtype=float)
    means = {value: efficiency[window == value].mean() for value in np.unique(window)}
    disturbed = runs["disturbed"].fillna(False).to_numpy(dtype=bool) if "disturbed" in runs else np.zeros(len(runs), dtype=bool)
    windows = [(float(entry["window_seconds"]), entry["samples_per_joule_rsd"], bool(entry["met"])) for entry in summary.get("windows", [])]
    return {
        "window_seconds": window,
        "repeat": runs["repeat"].to_numpy(dtype=int),
        "samples_per_joule": efficiency,
        "deviation": np.array([value / means[w] - 1 for value, w in zip(efficiency, window, strict=True)]),
        "disturbed": disturbed,
        "windows": windows,
        "chosen": float(summary.get("window_seconds") or (window[0] if len(window) else 0.0)),
        "mean": float(summary["samples_per_joule_mean"]),
        "rsd": float(summary["samples_per_joule_rsd"]),
        "bound": float(summary["max_rsd"]),
        "passed": bool(summary["passed"]),
        "note": energy_note([summary["energy_source"]], [summary["estimated"]]),
    }


def scaling_data(trials: Any, summary: Mapping[str, Any], efficiency: str = "samples_per_joule") -> dict[str, Any]:
    """Efficiency against parameter count of completed trials, and the fitted power law (if any).

    Returns ``points`` (k, 2): (parameters, samples per joule), positive values only;
    ``line`` (50, 2) along the fit from summary.json's ``power_law_vs_parameters``
    (empty without a fit or points); and a ``title`` with exponent, its 95% CI, R^2, n.
    """
    completed = trials[(trials["status"] == TrialStatus.COMPLETED.value)] if "status" in trials else trials
    columns = [c for c in ("parameters", efficiency) if c in completed]
    points = completed[columns].dropna().to_numpy(dtype=float) if len(columns) == 2 else np.zeros((0, 2))
    points = points[(points[:, 0] > 0) & (points[:, 1] > 0)] if len(points) else points.reshape(0, 2)
    fit = summary.get("power_law_vs_parameters") or {}
    line = np.zeros((0, 2))
    if "exponent" in fit and len(points):
        xs = np.geomspace(points[:, 0].min(), points[:, 0].max(), 50)
        line = np.column_stack([xs, fit["prefactor"] * xs ** fit["exponent"]])
    if "exponent" in fit:
        title = (
            f"efficiency = {fit['prefactor']:.3g} x parameters^{fit['exponent']:.3f}  "
            f"(95% CI [{fit['exponent_ci_low']:.3f}, {fit['exponent_ci_high']:.3f}], R^2 = {fit['r_squared']:.2f}, n = {fit['n']})"
        )
    else:
        title = f"no power-law fit: {fit.get('reason', 'no trial with a parameter count')}"
    return {"points": points, "line": line, "title": title}


# --------------------------------------------------------------------------- drawing
def _figure(settings: FiguresSettings, width: float = 7.0, height: float = 5.0, columns: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style=settings.style, context="notebook")
    return plt.subplots(1, columns, figsize=(width * columns, height), squeeze=False)


def _save(figure: Any, note: str, path: Path, settings: FiguresSettings) -> Path:
    import matplotlib.pyplot as plt

    from ecopt.io import write_bytes

    figure.text(0.01, 0.01, note, fontsize=8, color="firebrick" if "ESTIMATED" in note else "dimgray", ha="left", va="bottom")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format=settings.format, dpi=settings.dpi)
    plt.close(figure)
    return write_bytes(path, buffer.getvalue())


def draw_pareto(data: Mapping[str, Any], path: Path, settings: FiguresSettings) -> Path:
    """Draw ``pareto_data``'s output with matplotlib/seaborn and write it atomically at ``path``; returns ``path``.

    Efficiency is on a log axis when every point is positive, performance too when it
    spans more than 20x (latency-like metrics).
    """
    figure, axes = _figure(settings)
    axis = axes[0][0]
    points, line, knee = data["points"], data["frontier"], data["knee"]
    axis.scatter(points[:, 0], points[:, 1], s=28, color="tab:blue", alpha=0.6, label=f"trials ({data['counts']['completed']} completed)")
    stopped = data.get("early_stopped", np.zeros((0, 2)))
    if len(stopped):
        axis.scatter(stopped[:, 0], stopped[:, 1], s=28, marker="x", color="tab:gray", label=f"early stopped ({len(stopped)}, partial performance)")
    if len(line):
        axis.step(line[:, 0], line[:, 1], where="post", color="tab:orange", linewidth=2, label=f"Pareto frontier ({len(line)})")
        axis.scatter(line[:, 0], line[:, 1], s=50, color="tab:orange", zorder=3)
    if len(knee):
        axis.scatter(knee[:, 0], knee[:, 1], s=180, marker="*", color="crimson", zorder=4, label="knee")
    disturbed = data.get("disturbed", np.zeros(len(points), dtype=bool))
    if disturbed.any():
        shaken = points[disturbed]
        label = f"disturbed window ({int(disturbed.sum())}): other processes' CPU above meter.max_disturbance_share"
        axis.scatter(shaken[:, 0], shaken[:, 1], s=110, facecolors="none", edgecolors="black", linewidths=1.2, zorder=5, label=label)
    lost = not_completed_note(data["counts"])
    if lost:
        axis.plot([], [], " ", label=lost)
    if len(points) and np.all(points[:, 1] > 0):
        axis.set_yscale("log")
    # Latency-like performance spans orders of magnitude too (batch size 1 vs 500).
    if len(points) and np.all(points[:, 0] > 0) and points[:, 0].max() > 20 * points[:, 0].min():
        axis.set_xscale("log")
    axis.set_xlabel(data["performance_label"])
    axis.set_ylabel("samples per joule (evaluation)")
    axis.set_title("Performance vs energy efficiency")
    axis.legend(loc="best", fontsize=8)
    return _save(figure, data["note"], path, settings)


def draw_hypervolume(data: Mapping[str, Any], path: Path, settings: FiguresSettings, note: str) -> Path:
    """Draw ``hypervolume_data``'s output (a step line over trials, dotted round boundaries) at ``path``; returns ``path``."""
    figure, axes = _figure(settings, height=4.0)
    axis = axes[0][0]
    axis.step(data["trial_number"], data["hypervolume"], where="post", color="tab:green", linewidth=2)
    rounds = data["round"]
    for position in range(1, len(rounds)):
        if rounds[position] != rounds[position - 1]:
            axis.axvline(data["trial_number"][position] - 0.5, color="gray", linewidth=0.6, linestyle=":")
    axis.set_xlabel("trial (dotted lines: round boundaries)")
    axis.set_ylabel("hypervolume")
    axis.set_title(f"Hypervolume after each trial, in {data['space']}\nreference point: {data['reference']}", fontsize=9)
    return _save(figure, note, path, settings)


def draw_proxies(panels: Sequence[Mapping[str, Any]], path: Path, settings: FiguresSettings, note: str) -> Path:
    """Draw ``proxy_data``'s panels side by side (seaborn scatter, log axes when positive) at ``path``; returns ``path``."""
    import seaborn as sns

    figure, axes = _figure(settings, width=6.0, height=4.5, columns=len(panels))
    for axis, panel in zip(axes[0], panels, strict=True):  # one column per panel
        sns.scatterplot(x=panel["x"], y=panel["y"], ax=axis, s=40, alpha=0.8, color="tab:blue")
        # Proxies and energies span orders of magnitude: log axes keep every point readable.
        if np.all(panel["x"] > 0) and np.all(panel["y"] > 0):
            axis.set_xscale("log")
            axis.set_yscale("log")
        axis.set_xlabel(panel["xlabel"])
        axis.set_ylabel(panel["ylabel"])
        axis.set_title(panel["title"], fontsize=9)
    return _save(figure, note, path, settings)


def draw_calibration(data: Mapping[str, Any], path: Path, settings: FiguresSettings) -> Path:
    """Draw ``calibration_data``'s output: each repeat's deviation from its window's mean, per window tried, the ±bound band,
    each window's spread and the chosen window; disturbed repeats marked. Returns ``path``."""
    figure, axes = _figure(settings, height=4.0)
    axis = axes[0][0]
    window, deviation, disturbed = data["window_seconds"], 100 * data["deviation"], data["disturbed"]
    bound = data["bound"]
    axis.axhspan(-100 * bound, 100 * bound, color="tab:green", alpha=0.15, label=f"±{bound:.0%} (bound)")
    axis.scatter(window[~disturbed], deviation[~disturbed], color="tab:purple", s=24, label="repeats")
    if disturbed.any():
        axis.scatter(window[disturbed], deviation[disturbed], color="crimson", marker="x", s=40, label="disturbed window (other processes' CPU)")
    for seconds, rsd, met in data["windows"]:
        text = "-" if rsd is None else f"{rsd:.1%}"
        axis.annotate(text, (seconds, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=8, color="black" if met else "dimgray")
    axis.axvline(data["chosen"], color="black", linewidth=1, linestyle="--", label=f"chosen window {data['chosen']:g} s")
    if len(window) and np.all(window > 0):
        axis.set_xscale("log")
    axis.set_xlabel("evaluation window (s); above: samples/J spread (RSD) per window")
    axis.set_ylabel("deviation from the window's mean samples/J (%)")
    verdict = "passed" if data["passed"] else "FAILED: no window met the bar"
    axis.set_title(f"Meter calibration: RSD {data['rsd']:.2%} at {data['chosen']:g} s ({verdict}, bound {bound:.0%})", fontsize=10, pad=16)
    axis.legend(loc="best", fontsize=8)
    return _save(figure, data["note"], path, settings)


def draw_scaling(data: Mapping[str, Any], path: Path, settings: FiguresSettings, note: str) -> Path:
    """Draw ``scaling_data``'s output: efficiency vs parameters on log-log axes with the power-law fit; returns ``path``."""
    figure, axes = _figure(settings, height=4.5)
    axis = axes[0][0]
    points, line = data["points"], data["line"]
    axis.scatter(points[:, 0], points[:, 1], s=30, alpha=0.7, color="tab:blue", label=f"completed trials ({len(points)})")
    if len(line):
        axis.plot(line[:, 0], line[:, 1], color="tab:red", linewidth=2, label="power-law fit")
    if len(points):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.legend(loc="best", fontsize=8)
    axis.set_xlabel("parameters")
    axis.set_ylabel("samples (tokens) per joule")
    axis.set_title(data["title"], fontsize=9)
    return _save(figure, note, path, settings)


def study_energy_data(hypervolume: Any, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Hypervolume after each round against the study's cumulative joules when that round's last trial finished.

    Per round, not per trial: the trials of a round run in any order (Snakemake
    schedules them), while ``hypervolume.csv`` accumulates them in (round, index)
    order, so only its value after a round's last row is the hypervolume at a
    moment of the study. ``entries`` are ledger entries (``ecopt.ledger``,
    ``study_energy_entries``); a round's x value is the sum of ``total_joules`` of
    every entry that finished no later than its last trial (data, calibration,
    proxies and their figures, rounds, trials).
    Rounds with a trial that has no entry are left out. Returns lists ``joules``,
    ``hypervolume``, ``round`` and the energy ``note``.
    """
    ordered = sorted(entries, key=lambda e: e["finished_at"])
    finished = {e["job"]: e["finished_at"] for e in ordered if e["stage"] == "trial"}
    joules, values, rounds = [], [], []
    by_round: dict[int, list[Any]] = {}
    for row in hypervolume.itertuples(index=False):
        by_round.setdefault(int(row.round), []).append(row)
    for round_number, rows in sorted(by_round.items()):
        jobs = [f"{round_number:03d}-{int(row.index)}" for row in rows]
        if not all(job in finished for job in jobs):
            continue
        last = max(finished[job] for job in jobs)
        joules.append(sum(e["total_joules"] for e in ordered if e["finished_at"] <= last))
        values.append(float(rows[-1].hypervolume))
        rounds.append(round_number)
    estimated = any(e["estimated"] for e in entries)
    note = "Energy: the study's own, every job's whole process (ecopt.ledger)" + ("  (ESTIMATED: CodeCarbon without energy counters)" if estimated else "")
    return {"joules": joules, "hypervolume": values, "round": rounds, "note": note}


# The ledger entries the study-energy figure reads (under results/<study>/ledger/): every job
# that can finish before the last trial, the calibration and proxies figures included (they
# run beside the search); the workflow declares the same files as the figures job's inputs.
STUDY_ENERGY_ENTRIES = ("data.json", "calibration.json", "proxies.json", "search", "trial", "figures/calibration.json", "figures/proxies.json")


def study_energy_entries(ledger: str | Path) -> list[dict[str, Any]]:
    """The ledger entries (``STUDY_ENERGY_ENTRIES`` that exist under ``ledger``) for ``study_energy_data``.

    Jobs that start only after the last trial (frontier, this figures job, the
    page, the summary) cannot move a round's x value, so they are not read.
    Each file is checked against ``ledger_entry.schema.json`` (``RecordError``).
    """
    from ecopt.records import read_document

    ledger = Path(ledger)
    sources = [ledger / name for name in STUDY_ENERGY_ENTRIES if (ledger / name).exists()]
    # Read through the schema here: ecopt.ledger imports the meter, which figures never do.
    files = [file for source in sources for file in (sorted(source.rglob("*.json")) if source.is_dir() else [source])]
    return [read_document(file, "ledger_entry") for file in files]


def draw_study_energy(data: Mapping[str, Any], path: Path, settings: FiguresSettings) -> Path:
    """Draw ``study_energy_data``'s hypervolume steps against cumulative study joules; returns ``path``."""
    figure, axes = _figure(settings, height=4.0)
    axis = axes[0][0]
    axis.step(data["joules"], data["hypervolume"], where="post", color="tab:red", linewidth=2)
    axis.scatter(data["joules"], data["hypervolume"], c=data["round"], cmap="viridis", s=18, zorder=3)
    axis.set_xlabel("cumulative study energy when the round's last trial finished (J)")
    axis.set_ylabel("hypervolume after the round")
    axis.set_title("Hypervolume against the study's own energy (colour: round; 0 = Sobol design)", fontsize=9)
    return _save(figure, data["note"], path, settings)


FIGURES = ("pareto", "hypervolume", "scaling", "proxies", "calibration", "study_energy")


def draw_all(study_dir: str | Path, out_dir: str | Path, settings: FiguresSettings | Mapping[str, Any] | None, only: Sequence[str] = FIGURES) -> list[Path]:
    """Draw the figures named in ``only`` whose stage outputs exist in the study folder; returns the paths written.

    Reads trials.csv, frontier.csv, hypervolume.csv, summary.json, proxies/ and
    calibration/ under ``study_dir``, writes ``<name>.<figures.format>`` under
    ``out_dir``. ConfigError for bad figures settings; RecordError for a summary.json
    that breaks its schema.
    """
    from ecopt.io import read_json
    from ecopt.records import read_summary, read_table

    study, out = Path(study_dir), Path(out_dir)
    settings = validate_section("figures", settings)  # a mapping (or None) is validated as the figures section
    suffix = settings.format
    paths = []
    if (study / "trials.csv").is_file() and {"pareto", "hypervolume", "scaling"} & set(only):
        trials = read_table(study / "trials.csv")
        frontier = read_table(study / "frontier.csv")
        if frontier.empty:
            frontier = trials.iloc[:0]
        note = energy_note(list(trials.get("energy_source", [])), list(trials.get("estimated", [])))
        if "pareto" in only:
            paths.append(draw_pareto(pareto_data(trials, frontier), out / f"pareto.{suffix}", settings))
        if "hypervolume" in only:
            paths.append(draw_hypervolume(hypervolume_data(read_table(study / "hypervolume.csv")), out / f"hypervolume.{suffix}", settings, note))
        if "scaling" in only:
            # The frontier stage's summary (the workflow's summary.json is written after the figures).
            summary_file = next((f for f in (study / "frontier" / "summary.json", study / "summary.json") if f.is_file()), None)
            summary = read_summary(summary_file) if summary_file is not None else {}
            paths.append(draw_scaling(scaling_data(trials, summary), out / f"scaling.{suffix}", settings, note))
    if "study_energy" in only and (study / "hypervolume.csv").is_file() and (study / "ledger").is_dir():
        data = study_energy_data(read_table(study / "hypervolume.csv"), study_energy_entries(study / "ledger"))
        paths.append(draw_study_energy(data, out / f"study_energy.{suffix}", settings))
    if "proxies" in only and (study / "proxies" / "stats.json").is_file():
        stats = read_json(study / "proxies" / "stats.json")
        paths.append(
            draw_proxies(
                proxy_data(read_table(study / "proxies" / "runs.csv"), stats),
                out / f"proxies.{suffix}",
                settings,
                energy_note([stats["energy_source"]], [stats["estimated"]]),
            )
        )
    if "calibration" in only and (study / "calibration" / "summary.json").is_file():
        paths.append(
            draw_calibration(
                calibration_data(read_table(study / "calibration" / "runs.csv"), read_json(study / "calibration" / "summary.json")),
                out / f"calibration.{suffix}",
                settings,
            )
        )
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopt.figures``: draw every figure whose stage outputs exist; exit 2 with a message on a bad config."""
    from ecopt.cli import add_study_arguments, study_mapping

    parser = argparse.ArgumentParser(prog="python -m ecopt.figures", description="Figures of a study.")
    add_study_arguments(parser)
    parser.add_argument("--study-dir", required=True, help="results/<study>")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--only", nargs="+", choices=FIGURES, default=list(FIGURES), help="figures to draw (default: every one whose inputs exist)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    from ecopt.errors import ConfigError

    try:
        mapping = study_mapping(args)
        study = validate_study(mapping, sections=["figures", "mlflow"])
    except ConfigError as error:
        print(f"ecopt.figures: {error}", file=sys.stderr)
        return 2
    paths = draw_all(args.study_dir, args.out_dir, study.figures, args.only)
    for path in paths:
        logger.info("wrote %s", path)
    if study.mlflow is not None and paths:  # the study's MLflow run holds its figures
        from ecopt.tracking import log_study_artifacts_safely

        log_study_artifacts_safely(study.mlflow, str(mapping.get("study") or Path(args.study_dir).resolve().name), paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
