rule proxies:
    input:
        # load_splits reads both files of the data stage.
        splits=rules.prepare_data.output.splits,
        manifest=rules.prepare_data.output.manifest,
    output:
        runs=f"{OUT}/proxies/runs.csv",
        stats=f"{OUT}/proxies/stats.json",
        ledger=update(f"{LEDGER}/proxies.json"),
    log:
        f"{OUT}/logs/proxies.log",
    benchmark:
        f"{OUT}/benchmarks/proxies.tsv"
    conda:
        "../envs/ecopt.yaml"
    resources:
        metered=1,
    params:
        settings=settings_of(*PROXIES_SECTIONS),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        splits_dir=lambda wildcards, input: os.path.dirname(input.splits),
        out_dir=lambda wildcards, output: os.path.dirname(output.stats),
    shell:
        ledgered("proxies") + "--settings {params.settings:q} --splits-dir {params.splits_dir} " "--out-dir {params.out_dir} > {log} 2>&1"
