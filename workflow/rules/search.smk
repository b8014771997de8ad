rule propose:
    input:
        unpack(proposal_inputs),
    output:
        proposals=f"{OUT}/rounds/{{round}}/proposals.json",
        state=f"{OUT}/rounds/{{round}}/experiment.json",
    log:
        f"{OUT}/logs/propose/{{round}}.log",
    benchmark:
        f"{OUT}/benchmarks/propose/{{round}}.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=search_settings(),
        python=PYTHON,
        trials=lambda wildcards, input: " ".join(input.get("trials", [])),
        calibration=lambda wildcards, input: f"--calibration {input.calibration}" if "calibration" in input.keys() else "",
    shell:
        "{params.python} -m ecopt.search --settings {params.settings:q} --round {wildcards.round} "
        "--trials {params.trials} {params.calibration} --out {output.proposals} --state {output.state} > {log} 2>&1"


rule trial:
    input:
        proposals=f"{OUT}/rounds/{{round}}/proposals.json",
        # load_splits reads both files of the data stage.
        splits=rules.prepare_data.output.splits,
        manifest=rules.prepare_data.output.manifest,
    output:
        # update(): Snakemake keeps an existing record when it reruns this job rather
        # than deleting it first, so a trial killed after writing its record (before
        # Snakemake marked the job complete) is not metered again: ecopt.trial keeps a
        # record whose fingerprint (settings, params, round, index) matches and
        # measures afresh otherwise.
        update(f"{OUT}/rounds/{{round}}/trials/{{index}}.json"),
    log:
        f"{OUT}/logs/trials/{{round}}-{{index}}.log",
    benchmark:
        f"{OUT}/benchmarks/trials/{{round}}-{{index}}.tsv"
    conda:
        "../envs/ecopt.yaml"
    resources:
        metered=1,
    params:
        settings=settings_of(*TRIAL_SECTIONS),
        python=PYTHON,
        splits_dir=lambda wildcards, input: os.path.dirname(input.splits),
    shell:
        "{params.python} -m ecopt.trial --settings {params.settings:q} --proposals {input.proposals} --index {wildcards.index} "
        "--splits-dir {params.splits_dir} --out {output} > {log} 2>&1"


rule frontier:
    input:
        all_trials(),
    output:
        trials=f"{OUT}/trials.csv",
        frontier=f"{OUT}/frontier.csv",
        hypervolume=f"{OUT}/hypervolume.csv",
        summary=f"{OUT}/summary.json",
    log:
        f"{OUT}/logs/frontier.log",
    benchmark:
        f"{OUT}/benchmarks/frontier.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("objectives", "mlflow", search={"baseline": config["search"]["baseline"]}),
        python=PYTHON,
        out_dir=lambda wildcards, output: os.path.dirname(output.frontier),
    shell:
        "{params.python} -m ecopt.frontier --settings {params.settings:q} --trials {input} --out-dir {params.out_dir} > {log} 2>&1"
