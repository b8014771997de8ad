rule calibrate:
    input:
        # load_splits reads both files of the data stage.
        splits=rules.prepare_data.output.splits,
        manifest=rules.prepare_data.output.manifest,
    output:
        runs=f"{OUT}/calibration/runs.csv",
        summary=f"{OUT}/calibration/summary.json",
        ledger=update(f"{LEDGER}/calibration.json"),
    log:
        f"{OUT}/logs/calibrate.log",
    benchmark:
        f"{OUT}/benchmarks/calibrate.tsv"
    conda:
        "../envs/ecopt.yaml"
    resources:
        metered=1,
    params:
        settings=settings_of(*CALIBRATION_SECTIONS),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        splits_dir=lambda wildcards, input: os.path.dirname(input.splits),
        out_dir=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        ledgered("calibration") + "--settings {params.settings:q} --splits-dir {params.splits_dir} " "--out-dir {params.out_dir} > {log} 2>&1"
