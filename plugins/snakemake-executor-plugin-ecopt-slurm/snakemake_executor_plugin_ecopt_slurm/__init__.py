"""snakemake-executor-plugin-slurm, with the time between status polls bounded.

ECOpt's SLURM profile (``profiles/slurm``, ``executor: ecopt-slurm``) runs every job
through this executor. It *is* the SLURM executor plugin (snakemake-executor-plugin-slurm
does all the work: submission, ``squeue``/``sacct`` status, cancellation, logs, every
one of its settings, under this plugin's prefix ``--ecopt-slurm-...``), with one
change: the interval between two status polls never exceeds ``max-status-interval``
seconds.

Why (measured, ``benchmarks/slurm_overhead.py`` on the tiny study, one-node local
cluster): the upstream plugin waits ``init-seconds-before-status-checks`` after a poll
that saw a job end and 10 s more after every poll that saw none, up to 180 s. A
Snakemake job therefore ends on average 10.8 s (up to 20 s) before Snakemake sees it,
and every dependent job (the next optimiser round, the next round's trials) starts
that much later: 58 % of the 18.7 s of SLURM overhead per job. No upstream setting
bounds the growth: ``init-seconds-before-status-checks`` only sets where it restarts.

The bound costs one ``squeue`` (or ``sacct``) call per interval while jobs run: with
the profile's 2 s, 1 800 calls per hour of study, each one RPC to slurmctld for this
run's jobs (``--name <run uuid>``). On a large shared cluster raise it (30-60 s is
polite); the per-job delay is then about half of it.
"""

# No `from __future__ import annotations`: Snakemake builds its CLI from these fields'
# types at run time, and a string annotation is not a callable type.
from dataclasses import dataclass, field
from typing import Optional

from snakemake_executor_plugin_slurm import Executor as SlurmExecutor
from snakemake_executor_plugin_slurm import ExecutorSettings as SlurmExecutorSettings
from snakemake_executor_plugin_slurm import common_settings  # noqa: F401  (the plugin interface reads it from this module)
from snakemake_interface_common.exceptions import WorkflowError


@dataclass
class ExecutorSettings(SlurmExecutorSettings):
    """The SLURM executor plugin's settings, plus the bound on the status-poll interval."""

    max_status_interval: Optional[int] = field(  # noqa: UP045  (a runtime type, see above)
        default=None,
        metadata={
            "help": "Longest time in seconds between two status polls (squeue/sacct) of the running jobs. "
            "The SLURM plugin lengthens the interval by 10 s after every poll that saw no job end, up to 180 s; "
            "this bounds it. Unset: the plugin's own growth. A job's end is seen on average half an interval late.",
            "env_var": False,
            "required": False,
        },
    )

    def __post_init__(self):
        """Validate the bound, then the SLURM plugin's own settings."""
        if self.max_status_interval is not None and (not isinstance(self.max_status_interval, int) or self.max_status_interval < 1):
            raise WorkflowError(f"ecopt-slurm-max-status-interval: {self.max_status_interval!r} is not a whole number of seconds >= 1")
        super().__post_init__()


class Executor(SlurmExecutor):
    """The SLURM executor plugin's executor; status polls at most ``max_status_interval`` seconds apart."""

    @property
    def next_seconds_between_status_checks(self):
        """Seconds until the next status poll: the SLURM plugin's choice, bounded by ``max_status_interval``."""
        seconds = self._next_seconds_between_status_checks
        if seconds is None:
            seconds = self.workflow.remote_execution_settings.seconds_between_status_checks
        bound = getattr(self.workflow.executor_settings, "max_status_interval", None)
        return seconds if bound is None else min(seconds, bound)

    @next_seconds_between_status_checks.setter
    def next_seconds_between_status_checks(self, value):
        self._next_seconds_between_status_checks = value
