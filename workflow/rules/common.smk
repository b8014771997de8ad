# Helpers and input functions shared by the rules.
import os

from ecopt.calibration import CALIBRATION_SECTIONS
from ecopt.cli import settings_json
from ecopt.proxies import PROXIES_SECTIONS
from ecopt.search import SEARCH_SECTIONS
from ecopt.trial import TRIAL_SECTIONS


wildcard_constraints:
    round=r"\d{3}",
    index=r"\d+",


ROUNDS = config["search"]["rounds"]
BATCH_SIZE = config["search"]["batch_size"]
INITIAL_TRIALS = config["search"]["initial_trials"]


def trials_in_round(round_number):
    """Trial files of one round: the DAG is static, fixed by the search section."""
    count = INITIAL_TRIALS if round_number == 0 else BATCH_SIZE
    return [f"{OUT}/rounds/{round_number:03d}/trials/{index}.json" for index in range(count)]


def trials_before(wildcards):
    return [path for earlier in range(int(wildcards.round)) for path in trials_in_round(earlier)]


def all_trials():
    return [path for round_number in range(ROUNDS + 1) for path in trials_in_round(round_number)]


def proposal_inputs(wildcards):
    """Round 0 needs nothing; later rounds need every earlier trial and the meter's spread."""
    if int(wildcards.round) == 0:
        return {}
    inputs = {"trials": trials_before(wildcards)}
    if "calibrate" in STAGES:  # the meter's measured spread becomes observation noise
        inputs["calibration"] = f"{OUT}/calibration/summary.json"
    return inputs


def settings_of(*sections, **partial):
    """The named config sections (and, by keyword, a section's chosen fields) as canonical JSON.

    The text is the rule's `settings` param and its stage's --settings argument: the
    stage reads exactly this, and Snakemake reruns the rule when a value in it changes,
    never for comments, key order or whitespace in the config file. The section lists
    are the stages' own (ecopt.trial.TRIAL_SECTIONS, ...), so the two cannot drift.
    """
    chosen = {name: config[name] for name in sections if config.get(name) is not None}
    chosen.update(partial)
    return settings_json(chosen)


def search_settings():
    # `rounds` only adds rounds at the end: changing it must not redo finished ones.
    search = {key: value for key, value in config["search"].items() if key != "rounds"}
    return settings_of(*SEARCH_SECTIONS, search=search)


def figure_shell(names):
    return (
        "{params.python} -m ecopt.figures --settings {params.settings:q} --study-dir {params.study_dir} "
        f"--out-dir {{params.out_dir}} --only {' '.join(names)} > {{log}} 2>&1"
    )


def frontier_page_inputs(wildcards):
    """The frontier tables, and the meter's spread (error bars) when the study calibrates."""
    inputs = {"trials": f"{OUT}/trials.csv", "frontier": f"{OUT}/frontier.csv"}
    if "calibrate" in STAGES:
        inputs["calibration"] = f"{OUT}/calibration/summary.json"
    return inputs
