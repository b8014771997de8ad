rule propose:
    input:
        unpack(proposal_inputs),
    output:
        proposals=f"{OUT}/rounds/{{round}}/proposals.json",
        state=f"{OUT}/rounds/{{round}}/experiment.json",
    params:
        search=search_slice(),
        space=config["space"],
        objectives=config.get("objectives"),
        seed=config["seed"],
        config=STUDY_CONFIG,
        python=PYTHON,
        trials=lambda wildcards, input: " ".join(input.get("trials", [])),
        calibration=lambda wildcards, input: f"--calibration {input.calibration}" if "calibration" in input.keys() else "",
    conda:
        "../envs/ecopt.yaml"
    log:
        f"{OUT}/logs/propose/{{round}}.log",
    benchmark:
        f"{OUT}/benchmarks/propose/{{round}}.tsv"
    shell:
        "{params.python} -m ecopt.search --config {params.config} --round {wildcards.round} "
        "--trials {params.trials} {params.calibration} --out {output.proposals} --state {output.state} > {log} 2>&1"


rule trial:
    input:
        proposals=f"{OUT}/rounds/{{round}}/proposals.json",
        splits=rules.prepare_data.output.splits,
    output:
        f"{OUT}/rounds/{{round}}/trials/{{index}}.json",
    params:
        model=trial_slice(),
        config=STUDY_CONFIG,
        python=PYTHON,
        splits_dir=lambda wildcards, input: os.path.dirname(input.splits),
    resources:
        metered=1,
    conda:
        "../envs/ecopt.yaml"
    log:
        f"{OUT}/logs/trials/{{round}}-{{index}}.log",
    benchmark:
        f"{OUT}/benchmarks/trials/{{round}}-{{index}}.tsv"
    shell:
        "{params.python} -m ecopt.trial --config {params.config} --proposals {input.proposals} --index {wildcards.index} "
        "--splits-dir {params.splits_dir} --out {output} > {log} 2>&1"


rule frontier:
    input:
        all_trials(),
    output:
        trials=f"{OUT}/trials.csv",
        frontier=f"{OUT}/frontier.csv",
        hypervolume=f"{OUT}/hypervolume.csv",
        summary=f"{OUT}/summary.json",
    params:
        objectives=config.get("objectives"),
        baseline=config["search"]["baseline"],
        config=STUDY_CONFIG,
        python=PYTHON,
        out_dir=lambda wildcards, output: os.path.dirname(output.frontier),
    conda:
        "../envs/ecopt.yaml"
    log:
        f"{OUT}/logs/frontier.log",
    benchmark:
        f"{OUT}/benchmarks/frontier.tsv"
    shell:
        "{params.python} -m ecopt.frontier --config {params.config} --trials {input} --out-dir {params.out_dir} > {log} 2>&1"
