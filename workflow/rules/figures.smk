FIGURE_FORMAT = config["figures"]["format"]


rule figures:
    input:
        trials=rules.frontier.output.trials,
        frontier=rules.frontier.output.frontier,
        hypervolume=rules.frontier.output.hypervolume,
        summary=rules.frontier.output.summary,
        # The study-energy figure: every job's ledger entry up to the last trial.
        ledger=ledger_entries_before_frontier(),
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
        study_energy=report(
            f"{OUT}/figures/study_energy.{FIGURE_FORMAT}",
            caption="../report/study_energy.rst",
            category="Study energy",
        ),
        ledger=f"{LEDGER}/figures/frontier.json",
    log:
        f"{OUT}/logs/figures.log",
    benchmark:
        f"{OUT}/benchmarks/figures.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("figures", "mlflow"),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        study_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        out_dir=lambda wildcards, output: os.path.dirname(output.pareto),
    shell:
        figure_shell(["pareto", "hypervolume", "scaling", "study_energy"], "frontier")


rule frontier_page:
    input:
        unpack(frontier_page_inputs),
    output:
        page=report(
            f"{OUT}/figures/frontier.html",
            caption="../report/frontier_page.rst",
            category="Frontier",
        ),
        ledger=f"{LEDGER}/page.json",
    log:
        f"{OUT}/logs/frontier_page.log",
    benchmark:
        f"{OUT}/benchmarks/frontier_page.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("mlflow"),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        study_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output.page)),
    shell:
        ledgered("page") + "--settings {params.settings:q} --study-dir {params.study_dir} --out {output.page} > {log} 2>&1"


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
        ledger=f"{LEDGER}/figures/proxies.json",
    log:
        f"{OUT}/logs/proxies_figure.log",
    benchmark:
        f"{OUT}/benchmarks/proxies_figure.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("figures", "mlflow"),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        study_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        out_dir=lambda wildcards, output: os.path.dirname(output.proxies),
    shell:
        figure_shell(["proxies"], "proxies")


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
        ledger=f"{LEDGER}/figures/calibration.json",
    log:
        f"{OUT}/logs/calibration_figure.log",
    benchmark:
        f"{OUT}/benchmarks/calibration_figure.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of("figures", "mlflow"),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
        study_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        out_dir=lambda wildcards, output: os.path.dirname(output.calibration),
    shell:
        figure_shell(["calibration"], "calibration")


rule summary:
    # The last job: it reads every other job's ledger entry, so summary.json's
    # study_energy covers the whole study (its own energy up to the write included).
    input:
        frontier_summary=rules.frontier.output.summary,
        trials=all_trials(),
        ledger=all_ledger_entries(),
    output:
        summary=f"{OUT}/summary.json",
        # The numbers in the report: a caption cannot read a job's results, an HTML output shows inline.
        net_impact=report(
            f"{OUT}/net_impact.html",
            caption="../report/net_impact.rst",
            category="Study energy",
        ),
        ledger=f"{LEDGER}/summary.json",
    log:
        f"{OUT}/logs/summary.log",
    benchmark:
        f"{OUT}/benchmarks/summary.tsv"
    conda:
        "../envs/ecopt.yaml"
    params:
        settings=settings_of(*SUMMARY_SECTIONS),
        python=PYTHON,
        ledger=LEDGER_SETTINGS,
    shell:
        ledgered("summary") + "--settings {params.settings:q} --frontier-summary {input.frontier_summary} --trials {input.trials} "
        "--ledger {input.ledger} --out {output.summary} --html {output.net_impact} > {log} 2>&1"
