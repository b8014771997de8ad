import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ecopt.frontier import write_frontier
from ecopt.frontier_page import frontier_figure, frontier_page_data, spans_orders_of_magnitude, write_frontier_page
from ecopt.records import read_table
from ecopt.settings import validate_study

OBJECTIVES = list(validate_study({}, sections=["objectives"]).objectives)


def _completed(index, performance, efficiency, estimated=False, width=16):
    return {
        "params": {"width": width, "learning_rate": 0.001 * (index + 1)},
        "status": "completed",
        "round": index // 3,
        "index": index % 3,
        "performance_metric": "accuracy",
        "performance": performance,
        "samples_per_joule": efficiency,
        "eval_joules": 360.0 / efficiency,
        "train_joules": 50.0,
        "energy_source": "cpu:codecarbon-estimate" if estimated else "cpu:rapl",
        "estimated": estimated,
    }


RECORDS = [
    _completed(0, 0.90, 10.0, width=64),
    _completed(1, 0.85, 100.0),
    _completed(2, 0.60, 5000.0, width=4),
    _completed(3, 0.50, 50.0, estimated=True),  # dominated by trial 1
    {
        "params": {"width": 128, "learning_rate": 0.01},
        "status": "out_of_memory",
        "round": 1,
        "index": 1,
        "samples_per_joule": 0.0,
        "error": "CUDA out of memory",
    },
    {"params": {"width": 8, "learning_rate": 0.02}, "status": "failed", "round": 1, "index": 2, "error": "ValueError: infeasible"},
]


@pytest.fixture
def study_dir(tmp_path):
    study = tmp_path / "results" / "toy"
    write_frontier(RECORDS, OBJECTIVES, study)
    (study / "calibration").mkdir()
    (study / "calibration" / "summary.json").write_text(json.dumps({"samples_per_joule_rsd": 0.05}))
    return study


def _data(study):
    calibration = json.loads((study / "calibration" / "summary.json").read_text())
    return frontier_page_data(read_table(study / "trials.csv"), read_table(study / "frontier.csv"), calibration)


def test_page_data_every_trial_by_status_with_frontier_knee_and_error_bars(study_dir):
    data = _data(study_dir)
    completed = data["series"]["completed"]
    assert completed["x"] == [0.90, 0.85, 0.60, 0.50] and completed["y"] == [10.0, 100.0, 5000.0, 50.0]
    assert completed["error_y"] == pytest.approx([0.5, 5.0, 250.0, 2.5])  # RSD 5 % of each samples/J
    assert data["log_y"] and not data["log_x"]  # samples/J spans 10 .. 5000; accuracy does not
    assert data["floor"] == 5.0  # half the lowest efficiency: where OOM and failed trials sit on the log axis
    assert data["series"]["out_of_memory"]["y"] == [5.0] and data["series"]["failed"]["y"] == [5.0]
    assert data["series"]["out_of_memory"]["error_y"] == [None]
    assert data["series"]["out_of_memory"]["x"] == pytest.approx([0.6333333]) and data["series"]["failed"]["x"] == pytest.approx([0.7666667])
    assert sorted(data["frontier"]["x"]) == [0.60, 0.85, 0.90]  # trial 3 is dominated
    assert len(data["knee"]["x"]) == 1 and data["knee"]["x"][0] in (0.60, 0.85, 0.90)
    assert data["counts"]["completed"] == 4 and data["counts"]["out_of_memory"] == 1 and data["counts"]["failed"] == 1
    assert data["estimated"] and "ESTIMATED" in data["note"]
    hover = completed["hover"][0]
    for words in ("width = 64", "learning_rate = 0.001", "accuracy = 0.9", "samples/J = 10", "eval 36 J", "cpu:rapl", "round 0"):
        assert words in hover, (words, hover)
    assert "CUDA out of memory" in data["series"]["out_of_memory"]["hover"][0]


def test_figure_marks_estimates_and_uses_a_log_axis(study_dir):
    figure = frontier_figure(_data(study_dir))
    assert figure.layout.yaxis.type == "log" and figure.layout.xaxis.type == "linear"
    assert any("ESTIMATED" in (annotation.text or "") for annotation in figure.layout.annotations)
    names = [trace.name for trace in figure.data]
    assert "Pareto frontier" in names and "knee" in names and "completed (4)" in names and "out of memory (1)" in names


def test_without_calibration_or_estimates_there_are_no_error_bars_nor_warning(tmp_path):
    records = [dict(r, estimated=False, energy_source="cpu:rapl") for r in RECORDS[:3]]
    write_frontier(records, OBJECTIVES, tmp_path)
    data = frontier_page_data(read_table(tmp_path / "trials.csv"), read_table(tmp_path / "frontier.csv"), None)
    assert data["rsd"] is None and data["series"]["completed"]["error_y"] == [None, None, None] and not data["estimated"]
    assert not any("ESTIMATED" in (a.text or "") for a in frontier_figure(data).layout.annotations)


def test_log_axis_rule():
    assert spans_orders_of_magnitude([1, 100]) and not spans_orders_of_magnitude([1, 99])
    assert not spans_orders_of_magnitude([0, 100]) and not spans_orders_of_magnitude([5])


def test_cli_writes_a_self_contained_page(study_dir):
    from ecopt.__main__ import main

    out = study_dir / "figures" / "frontier.html"
    assert main(["page", "--study-dir", str(study_dir), "--out", str(out)]) == 0
    text = out.read_text()
    assert '<script src="http' not in text and "Plotly.newPlot" in text  # plotly.js inlined: opens offline
    assert main(["page", "--study-dir", str(study_dir / "missing"), "--out", str(out)]) == 2


# --------------------------------------------------------------------------- a real browser
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1200,800"]

# Injected around the page: the first script records every script error, the last one writes what it found into the DOM.
ERROR_LISTENER = "<script>window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message))});</script>"
CHECK = (
    "<script>setTimeout(function(){var d=document.createElement('pre');d.id='ecopt-check';"
    "d.textContent=JSON.stringify({errors:window.__errors,points:document.querySelectorAll('.scatterlayer .point').length,"
    "plotly:typeof Plotly});"
    "document.body.appendChild(d);},1500);</script>"
)


def _instrumented(page: Path) -> Path:
    text = page.read_text()
    text = text.replace("<head>", "<head>" + ERROR_LISTENER, 1).replace("</body>", CHECK + "</body>", 1)
    checked = page.with_name("checked-" + page.name)
    checked.write_text(text)
    return checked


def screenshot(page: Path, png: Path) -> subprocess.CompletedProcess:
    """Headless Chromium's screenshot of ``page`` (1200 x 800), as the test saves it on failure."""
    return subprocess.run(
        [CHROMIUM, *BROWSER_FLAGS, "--virtual-time-budget=5000", f"--screenshot={png}", page.resolve().as_uri()], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install -y chromium; .ci/run installs it)")
def test_page_loads_in_headless_chromium_without_script_errors_and_shows_every_point(study_dir, tmp_path):
    page = write_frontier_page(study_dir, study_dir / "figures" / "frontier.html")
    checked = _instrumented(page)
    result = subprocess.run(
        [CHROMIUM, *BROWSER_FLAGS, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", checked.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="ecopt-check">(.*?)</pre>', result.stdout, re.S)
    report = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")) if found else None
    console_errors = [line for line in result.stderr.splitlines() if "Uncaught" in line or ("CONSOLE" in line and "Error" in line)]
    # 6 trials + 1 knee star; the frontier is a line, not points.
    ok = report is not None and report["plotly"] == "object" and not report["errors"] and report["points"] >= len(RECORDS) + 1 and not console_errors
    if not ok:
        png = tmp_path / "frontier-page-failure.png"
        screenshot(checked, png)
        pytest.fail(
            f"page check failed: {report}, console errors {console_errors}, exit {result.returncode}; screenshot saved to {png}\n{result.stderr[-2000:]}"
        )


def test_disturbed_trials_are_ringed(tmp_path):
    records = [dict(r, disturbed=position == 1, disturbance_share=0.4 if position == 1 else 0.01) for position, r in enumerate(RECORDS[:3])]
    write_frontier(records, OBJECTIVES, tmp_path)
    data = frontier_page_data(read_table(tmp_path / "trials.csv"), read_table(tmp_path / "frontier.csv"), None)
    assert data["disturbed"] == {"x": [0.85], "y": [100.0]}
    assert "disturbed window (1)" in [trace.name for trace in frontier_figure(data).data]
