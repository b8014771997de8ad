FIGURE_FORMAT = config["figures"]["format"]


rule figures:
    input:
        trials=rules.frontier.output.trials,
        frontier=rules.frontier.output.frontier,
        hypervolume=rules.frontier.output.hypervolume,
        summary=rules.frontier.output.summary,
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
        scaling=report(
            f"{OUT}/figures/scaling.{FIGURE_FORMAT}",
            caption="../report/scaling.rst",
            category="Frontier",
        ),
    log:
        f"{OUT}/logs/figures.log",
    benchmark:
        f"{OUT}/benchmarks/figures.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("figures", "mlflow"),
        python=PYTHON,
        study_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        out_dir=lambda wildcards, output: os.path.dirname(output.pareto),
    shell:
        figure_shell(["pareto", "hypervolume", "scaling"])


rule frontier_page:
    input:
        unpack(frontier_page_inputs),
    output:
        page=report(
            f"{OUT}/figures/frontier.html",
            caption="../report/frontier_page.rst",
            category="Frontier",
        ),
    log:
        f"{OUT}/logs/frontier_page.log",
    benchmark:
        f"{OUT}/benchmarks/frontier_page.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("mlflow"),
        python=PYTHON,
        study_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output.page)),
    shell:
        "{params.python} -m ecopt.frontier_page --settings {params.settings:q} --study-dir {params.study_dir} --out {output.page} > {log} 2>&1"


rule proxies_figure:
    input:
        proxies=rules.proxies.output.stats,
        proxy_runs=rules.proxies.output.runs,
    output:
        proxies=report(
            f"{OUT}/figures/proxies.{FIGURE_FORMAT}",
            caption="../report/proxies.rst",
            category="Proxies",
        ),
    log:
        f"{OUT}/logs/proxies_figure.log",
    benchmark:
        f"{OUT}/benchmarks/proxies_figure.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("figures", "mlflow"),
        python=PYTHON,
        study_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        out_dir=lambda wildcards, output: os.path.dirname(output.proxies),
    shell:
        figure_shell(["proxies"])


rule calibration_figure:
    input:
        calibration=rules.calibrate.output.summary,
        calibration_runs=rules.calibrate.output.runs,
    output:
        calibration=report(
            f"{OUT}/figures/calibration.{FIGURE_FORMAT}",
            caption="../report/calibration.rst",
            category="Meter",
        ),
    log:
        f"{OUT}/logs/calibration_figure.log",
    benchmark:
        f"{OUT}/benchmarks/calibration_figure.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("figures", "mlflow"),
        python=PYTHON,
        study_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        out_dir=lambda wildcards, output: os.path.dirname(output.calibration),
    shell:
        figure_shell(["calibration"])
