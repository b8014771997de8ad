rule propose:
    input:
        unpack(proposal_inputs),
    output:
        proposals=f"{OUT}/rounds/{{round}}/proposals.json",
        state=f"{OUT}/rounds/{{round}}/experiment.json",
        ledger=update(f"{LEDGER}/search/{{round}}.json"),
    log:
        f"{OUT}/logs/propose/{{round}}.log",
    benchmark:
        f"{OUT}/benchmarks/propose/{{round}}.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=lambda wildcards: search_settings(int(wildcards.round)),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        trials=lambda wildcards, input: " ".join(input.get("trials", [])),
        calibration=lambda wildcards, input: f"--calibration {input.calibration}" if "calibration" in input.keys() else "",
    shell:
        ledgered("search", job="{wildcards.round}") + "--settings {params.settings:q} --round {wildcards.round} "
        "--trials {params.trials} {params.calibration} --out {output.proposals} --state {output.state} > {log} 2>&1"


rule trial:
    input:
        proposals=f"{OUT}/rounds/{{round}}/proposals.json",
        # load_splits reads both files of the data stage.
        splits=rules.prepare_data.output.splits,
        manifest=rules.prepare_data.output.manifest,
        # The calibration's chosen window replaces meter.min_window_seconds (none without the calibrate stage).
        calibration=calibration_input(),
    output:
        # update(): Snakemake keeps an existing record when it reruns this job rather
        # than deleting it first, so a trial killed after writing its record (before
        # Snakemake marked the job complete) is not metered again: ecopt.trial keeps a
        # record whose fingerprint (settings, params, round, index) matches and
        # measures afresh otherwise.
        record=update(f"{OUT}/rounds/{{round}}/trials/{{index}}.json"),
        ledger=update(f"{LEDGER}/trial/{{round}}-{{index}}.json"),
    log:
        f"{OUT}/logs/trials/{{round}}-{{index}}.log",
    benchmark:
        f"{OUT}/benchmarks/trials/{{round}}-{{index}}.tsv"
    conda:
        "../envs/ecopt.yaml"
    resources:
        metered=1,
    params:
        settings=lambda wildcards: trial_settings(int(wildcards.round)),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        splits_dir=lambda wildcards, input: os.path.dirname(input.splits),
        calibration=lambda wildcards, input: f"--calibration {input.calibration}" if input.calibration else "",
    shell:
        ledgered("trial", job="{wildcards.round}-{wildcards.index}")
        + "--settings {params.settings:q} --proposals {input.proposals} --index {wildcards.index} "
        "--splits-dir {params.splits_dir} {params.calibration} --out {output.record} > {log} 2>&1"


rule frontier:
    input:
        trials=all_trials(),
        # The calibration's samples/J spread is one trial's noise in the gain's interval (summary.json).
        calibration=calibration_input(),
    output:
        trials=f"{OUT}/trials.csv",
        frontier=f"{OUT}/frontier.csv",
        hypervolume=f"{OUT}/hypervolume.csv",
        summary=f"{OUT}/frontier/summary.json",
        ledger=update(f"{LEDGER}/frontier.json"),
    log:
        f"{OUT}/logs/frontier.log",
    benchmark:
        f"{OUT}/benchmarks/frontier.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("objectives", "mlflow", "deployment", search={"baseline": config["search"]["baseline"]}),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        out_dir=lambda wildcards, output: os.path.dirname(output.frontier),
        calibration=lambda wildcards, input: f"--calibration {input.calibration}" if input.calibration else "",
    shell:
        ledgered("frontier") + "--settings {params.settings:q} --trials {input.trials} {params.calibration} --out-dir {params.out_dir} "
        "--summary {output.summary} > {log} 2>&1"
