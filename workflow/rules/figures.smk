FIGURE_FORMAT = config["figures"]["format"]


rule figures:
    input:
        trials=rules.frontier.output.trials,
        frontier=rules.frontier.output.frontier,
        hypervolume=rules.frontier.output.hypervolume,
        calibration=rules.calibrate.output.summary,
        calibration_runs=rules.calibrate.output.runs,
        proxies=rules.proxies.output.stats,
        proxy_runs=rules.proxies.output.runs,
    output:
        pareto=report(
            f"{OUT}/figures/pareto.{FIGURE_FORMAT}",
            caption="../report/pareto.rst",
            category="Frontier",
        ),
        hypervolume=report(
            f"{OUT}/figures/hypervolume.{FIGURE_FORMAT}",
            caption="../report/hypervolume.rst",
            category="Frontier",
        ),
        proxies=report(
            f"{OUT}/figures/proxies.{FIGURE_FORMAT}",
            caption="../report/proxies.rst",
            category="Proxies",
        ),
        calibration=report(
            f"{OUT}/figures/calibration.{FIGURE_FORMAT}",
            caption="../report/calibration.rst",
            category="Meter",
        ),
    params:
        figures=config["figures"],
        config=STUDY_CONFIG,
        python=PYTHON,
        study_dir=lambda wildcards, input: os.path.dirname(input.trials),
        out_dir=lambda wildcards, output: os.path.dirname(output.pareto),
    conda:
        "../envs/ecopt.yaml"
    log:
        f"{OUT}/logs/figures.log",
    benchmark:
        f"{OUT}/benchmarks/figures.tsv"
    shell:
        "{params.python} -m ecopt.figures --config {params.config} --study-dir {params.study_dir} "
        "--out-dir {params.out_dir} > {log} 2>&1"
