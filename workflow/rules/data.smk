rule prepare_data:
    output:
        splits=f"{OUT}/data/splits.npz",
        manifest=f"{OUT}/data/manifest.json",
    params:
        data=config["data"],
        config=STUDY_CONFIG,
        python=PYTHON,
        out_dir=lambda wildcards, output: os.path.dirname(output.splits),
    conda:
        "../envs/ecopt.yaml"
    log:
        f"{OUT}/logs/prepare_data.log",
    benchmark:
        f"{OUT}/benchmarks/prepare_data.tsv"
    shell:
        "{params.python} -m ecopt.data --config {params.config} --out {params.out_dir} > {log} 2>&1"
