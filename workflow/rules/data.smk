rule prepare_data:
    output:
        splits=f"{OUT}/data/splits.npz",
        manifest=f"{OUT}/data/manifest.json",
    log:
        f"{OUT}/logs/prepare_data.log",
    benchmark:
        f"{OUT}/benchmarks/prepare_data.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("data"),
        python=PYTHON,
        out_dir=lambda wildcards, output: os.path.dirname(output.splits),
    shell:
        "{params.python} -m ecopt.data --settings {params.settings:q} --out {params.out_dir} > {log} 2>&1"
