# ECOpt: a study as a Snakemake workflow. Thin by design: the stages live in
# workflow/rules/*.smk, the work in the ecopt package.
import os
import sys

from snakemake.utils import min_version

from ecopt.errors import ConfigError
from ecopt.net_impact import study_baseline
from ecopt.settings import check_with_model, validate_study
from ecopt.tracking import ENVIRONMENT_VARIABLE, environment_value

min_version("9.0")


# The embedded default study, unless the user names a study with --configfile: a study
# replaces it whole (Snakemake would otherwise merge the two, mixing their spaces).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# One validation before any job: the package's schema (defaults filled, errors name the
# key), then the checks that need the adapter (options, domains, metrics). The Snakemake
# runs inside a cluster job (not the main process) skip the objective-name check, which
# imports sympy: the main process checked the same config before submitting the job.
try:
    SETTINGS = validate_study(config)
    MODEL = check_with_model(SETTINGS, objective_names=workflow.is_main_process)
except ConfigError as error:
    sys.exit(f"ECOpt config error: {error}")
config.update(SETTINGS.to_dict())
# The net impact's baseline: search.baseline, else the adapter's default configuration,
# which round 0 then evaluates first (ecopt.net_impact.study_baseline; a stage run by hand
# with --config fills it the same way, ecopt.net_impact.fill_study_baseline).
config["search"]["baseline"] = study_baseline(SETTINGS, MODEL)

STUDY = config["study"]
STAGES = config["stages"]
OUT = f"results/{STUDY}"
PYTHON = sys.executable
# MLflow tracking reaches the trial jobs through the environment (local and SLURM jobs
# inherit it), not the trial rule's settings param: a changed param would rerun every
# finished trial, so switching tracking on would re-measure the whole study.
if config.get("mlflow") is not None:
    os.environ[ENVIRONMENT_VARIABLE] = environment_value(STUDY, config["mlflow"])
else:
    os.environ.pop(ENVIRONMENT_VARIABLE, None)
# Nothing is written here, at parse time: a dry run, --lint or a run that cannot lock
# the working directory must leave results/ alone. Each rule passes the config slice
# its stage reads as one param (canonical JSON, workflow/rules/common.smk), so a job
# reads no undeclared file, and editing a value reruns that stage and what follows only.


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/proxies.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/figures.smk"


# On a cluster the light jobs run on the submitting host, not as SLURM jobs: each SLURM
# job pays Snakemake's start-up twice inside it (the batch script's Snakemake, then the
# job step's), about 7 s with the status poll and the queue (benchmarks/slurm_overhead.py),
# for jobs whose own work takes 4-9 s. Data preparation is one of them also because a
# login node, unlike many compute nodes, can download. The metered jobs (calibrate,
# proxies, trial) and the optimiser (propose: Ax's model fit wants memory and cores)
# stay SLURM jobs. Without a cluster executor this changes nothing.
localrules:
    all,
    prepare_data,
    calibration_figure,
    proxies_figure,
    frontier,
    figures,
    frontier_page,
    summary,


rule all:
    default_target: True
    input:
        # Every checkpoint is a target, not only the frontier: a deleted trial file is
        # redone (and the rounds after it), rather than treated as a spent intermediate.
        all_trials() if "search" in STAGES else [],
        rules.frontier.output if "search" in STAGES else [],
        rules.figures.output if "search" in STAGES else [],
        rules.summary.output,
        rules.frontier_page.output if "search" in STAGES else [],
        rules.proxies.output if "proxies" in STAGES else [],
        rules.proxies_figure.output if "proxies" in STAGES else [],
        rules.calibrate.output if "calibrate" in STAGES else [],
        rules.calibration_figure.output if "calibrate" in STAGES else [],
