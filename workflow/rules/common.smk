# Helpers and input functions shared by the rules.
import os


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


def search_slice():
    # `rounds` only adds rounds at the end: changing it must not redo finished ones.
    return {key: value for key, value in config["search"].items() if key != "rounds"}


def trial_slice():
    return {key: config.get(key) for key in ("adapter", "adapter_options", "data", "meter", "trial", "space", "seed")}


def figure_shell(names):
    return (
        "{params.python} -m ecopt.figures --config {params.config} --study-dir {params.study_dir} "
        f"--out-dir {{params.out_dir}} --only {' '.join(names)} > {{log}} 2>&1"
    )
