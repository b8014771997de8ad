rule prepare_data:
    output:
        splits=f"{OUT}/data/splits.npz",
        manifest=f"{OUT}/data/manifest.json",
        ledger=update(f"{LEDGER}/data.json"),
    log:
        f"{OUT}/logs/prepare_data.log",
    benchmark:
        f"{OUT}/benchmarks/prepare_data.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("data"),
        ledger=LEDGER_SETTINGS,
        python=PYTHON,
        out_dir=lambda wildcards, output: os.path.dirname(output.splits),
    shell:
        ledgered("data") + "--settings {params.settings:q} --out {params.out_dir} > {log} 2>&1"
