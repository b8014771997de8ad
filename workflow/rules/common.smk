# Helpers and input functions shared by the rules.
import os

from ecopt.calibration import CALIBRATION_SECTIONS
from ecopt.cli import settings_json
from ecopt.net_impact import uses_lifecycle_efficiency
from ecopt.proxies import PROXIES_SECTIONS
from ecopt.search import SEARCH_SECTIONS
from ecopt.summary import SUMMARY_SECTIONS
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


def calibration_input():
    """The calibration summary when the study calibrates: the trials read their window from it (ecopt.trial --calibration)."""
    return f"{OUT}/calibration/summary.json" if "calibrate" in STAGES else []


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


def search_settings(round_number):
    # `rounds` only adds rounds at the end: changing it must not redo finished ones.
    search = {key: value for key, value in config["search"].items() if key != "rounds"}
    # `deployment` only weighs a lifecycle_samples_per_joule objective, and only from round 1
    # (round 0 is a Sobol draw and the baseline, no model of past trials): otherwise a new N
    # must not redo the rounds, nor round 0 and its trials ever.
    weighs = round_number > 0 and uses_lifecycle_efficiency(SETTINGS.objectives)
    sections = [s for s in SEARCH_SECTIONS if (s != "deployment" or weighs) and (s != "early_stopping" or round_number > 0)]
    return settings_of(*sections, search=search)


def trial_settings(round_number):
    # Round 0's trials have no earlier round to be judged against: early stopping never applies to them,
    # so a new early_stopping setting must not redo round 0's proposals or trials (their fingerprints).
    return settings_of(*[s for s in TRIAL_SECTIONS if s != "early_stopping" or round_number > 0])


def figure_shell(names, job):
    return ledgered("figures", job=job) + (
        "--settings {params.settings:q} --study-dir {params.study_dir} " f"--out-dir {{params.out_dir}} --only {' '.join(names)} > {{log}} 2>&1"
    )


def frontier_page_inputs(wildcards):
    """The frontier tables, and the meter's spread (error bars) when the study calibrates."""
    inputs = {"trials": f"{OUT}/trials.csv", "frontier": f"{OUT}/frontier.csv"}
    if "calibrate" in STAGES:
        inputs["calibration"] = f"{OUT}/calibration/summary.json"
    return inputs


LEDGER = f"{OUT}/ledger"
LEDGER_SETTINGS = settings_of("meter")


def ledgered(stage, job=None):
    """The shell prefix that runs `ecopt <stage>` under the study energy ledger (ecopt.ledger).

    The rule declares `ledger` as an output and `ledger` (the meter section) as a param.
    The ledger's windows meter the job's own process (see ecopt.ledger on why).
    """
    job_option = f"--job {job} " if job is not None else ""
    return (
        "{params.python} -m ecopt.ledger --settings {params.ledger:q} "
        f"--stage {stage} {job_option}--tracking-mode process --out {{output.ledger}} -- {stage} "
    )


def ledger_entries_before_frontier():
    """Ledger entries of every job that can finish before the last trial (the study-energy
    figure's inputs, ecopt.figures.STUDY_ENERGY_ENTRIES): the calibration and proxies
    figures run beside the search, so their joules belong on the figure's x axis too."""
    entries = [f"{LEDGER}/data.json"]
    entries += [f"{LEDGER}/calibration.json", f"{LEDGER}/figures/calibration.json"] if "calibrate" in STAGES else []
    entries += [f"{LEDGER}/proxies.json", f"{LEDGER}/figures/proxies.json"] if "proxies" in STAGES else []
    entries += [f"{LEDGER}/search/{round_number:03d}.json" for round_number in range(ROUNDS + 1)]
    entries += [
        f"{LEDGER}/trial/{round_number:03d}-{index}.json"
        for round_number in range(ROUNDS + 1)
        for index in range(INITIAL_TRIALS if round_number == 0 else BATCH_SIZE)
    ]
    return entries


def all_ledger_entries():
    """Every job's ledger entry but the summary's own (ecopt.summary adds that itself)."""
    entries = [f"{LEDGER}/data.json"]
    if "search" in STAGES:
        entries = ledger_entries_before_frontier() + [f"{LEDGER}/frontier.json", f"{LEDGER}/figures/frontier.json", f"{LEDGER}/page.json"]
    if "calibrate" in STAGES:
        entries += [f"{LEDGER}/calibration.json", f"{LEDGER}/figures/calibration.json"]
    if "proxies" in STAGES:
        entries += [f"{LEDGER}/proxies.json", f"{LEDGER}/figures/proxies.json"]
    return list(dict.fromkeys(entries))
