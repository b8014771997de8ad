"""The ecopt-slurm executor plugin (plugins/snakemake-executor-plugin-ecopt-slurm) and the SLURM profile that uses it."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest
import yaml

from tests.test_workflow import ROOT, SNAKEMAKE, TINY, make_study

plugin = pytest.importorskip(
    "snakemake_executor_plugin_ecopt_slurm", reason="install it: pip install ./plugins/snakemake-executor-plugin-ecopt-slurm (make install does)"
)


def test_snakemake_finds_it_as_the_slurm_plugin_with_a_bound():
    from snakemake_executor_plugin_slurm import Executor as SlurmExecutor
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    found = ExecutorPluginRegistry().get_plugin("ecopt-slurm")
    assert issubclass(found.executor, SlurmExecutor)
    assert "max_status_interval" in found.settings_cls.__dataclass_fields__


def interval(next_seconds, bound, default=10):
    executor = SimpleNamespace(
        _next_seconds_between_status_checks=next_seconds,
        workflow=SimpleNamespace(
            remote_execution_settings=SimpleNamespace(seconds_between_status_checks=default), executor_settings=SimpleNamespace(max_status_interval=bound)
        ),
    )
    return plugin.Executor.next_seconds_between_status_checks.fget(executor)


def test_the_poll_interval_the_slurm_plugin_grows_is_bounded():
    # The SLURM plugin adds 10 s after every poll that saw no job end, up to 180 s.
    assert interval(180, 2) == 2
    assert interval(1, 2) == 1
    assert interval(None, 2, default=10) == 2
    assert interval(180, None) == 180  # unset: the plugin's own growth


def test_the_setter_keeps_what_the_slurm_plugin_chose():
    executor = SimpleNamespace(_next_seconds_between_status_checks=None)
    plugin.Executor.next_seconds_between_status_checks.fset(executor, 50)
    assert executor._next_seconds_between_status_checks == 50


@pytest.mark.parametrize("bad", [0, -3])
def test_a_bound_below_one_second_is_refused_naming_the_setting(bad):
    from snakemake_interface_common.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match=f"ecopt-slurm-max-status-interval: {bad}"):
        plugin.ExecutorSettings(max_status_interval=bad)


def test_the_slurm_profile_parses_and_bounds_the_poll(tmp_path):
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "ecopt-slurm"
    assert profile["ecopt-slurm-max-status-interval"] <= 2
    assert profile["ecopt-slurm-status-command"] == "squeue"  # no sacct without slurmdbd
    # Every key is one Snakemake or the plugin knows: a dry run with the profile parses them all.
    study = make_study(tmp_path / "study", dict(TINY))
    result = subprocess.run(
        [SNAKEMAKE, "--workflow-profile", str(ROOT / "profiles/slurm"), "--dry-run", "all"],
        cwd=study,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
