"""ecopt.settings: one validation against the packaged schema, frozen typed sections, model checks.

The mutation table is the issue's measurement: each entry changes one value of
``config/config.yaml`` and names the key the error must name. Run against the 3cac022
checks (``check_study``, then the Snakefile's schema validation), 35 of its 52 entries
failed naming their key, 1 named another key and 16 passed (every ``adapter_options``
value, fixed values and bounds outside the adapter's domains, an unknown space
parameter, an unknown objective metric). Of the 14 nested entries, 7 failed naming
their key, 4 named another and 3 passed (a fixed-only space, ``initial_trials`` above
a finite space, a baseline contradicting a fixed value). Now: 52 of 52 and 14 of 14.
"""

import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ecopt.adapters.cnn import CNNClassifier
from ecopt.errors import AdapterImportError, ConfigError
from ecopt.hyperparameter import Fixed, Range
from ecopt.settings import (
    SECTION_CLASSES,
    DataSettings,
    SearchSettings,
    StudySettings,
    check_with_model,
    instantiate_adapter,
    resolve_adapter,
    space_size,
    validate_section,
    validate_study,
)
from ecopt.space import parse_space

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
DELETE = "<delete>"

# (dotted path in config/config.yaml, new value, the key the error must name)
MUTATIONS = [
    ("study", "", "study"),
    ("study", "a/b", "study"),
    ("study", 5, "study"),
    ("seed", "zero", "seed"),
    ("seed", 1.5, "seed"),
    ("seed", True, "seed"),
    ("stages", ["train"], "stages[0]"),
    ("stages", "search", "stages"),
    ("adapter", "no_colon", "adapter"),
    ("adapter", "ecopt.nonexistent:Model", "adapter"),
    ("adapter", "ecopt.errors:ConfigError", "adapter"),
    ("adapter_options", [1], "adapter_options"),
    ("adapter_options.widht", 3, "adapter_options.widht"),
    ("adapter_options.learning_rate", "fast", "adapter_options.learning_rate"),
    ("adapter_options.batch_size", "64", "adapter_options.batch_size"),
    ("adapter_options.batch_size", 0, "adapter_options.batch_size"),
    ("adapter_options.max_epochs", 2.5, "adapter_options.max_epochs"),
    ("adapter_options.patience", True, "adapter_options.patience"),
    ("adapter_options.min_delta", "small", "adapter_options.min_delta"),
    ("adapter_options.device", "gpu", "adapter_options.device"),
    ("adapter_options.performance_metric", "f1", "adapter_options.performance_metric"),
    ("space.stride.value", "one", "space.stride.value"),
    ("space.padding.value", "full", "space.padding.value"),
    ("space.width.bounds", [64, 2], "space.width.bounds"),
    ("space.width.bounds", [1, 300], "space.width.bounds"),
    ("space.width.value_type", "float", "space.width.value_type"),
    ("space.kernel_size.values", [1, 3, 11], "space.kernel_size.values"),
    ("space.depth.type", "interval", "space.depth.type"),
    ("space.depth.log_scale", "yes", "space.depth.log_scale"),
    ("space.colour", {"type": "choice", "values": ["red", "blue"]}, "space.colour"),
    ("objectives.efficiency.metric", "samples_per_jule", "objectives.efficiency.metric"),
    ("objectives.performance.minimize", "no", "objectives.performance.minimize"),
    ("objectives.efficiency", DELETE, "objectives"),
    ("data.dataset", "imagenet", "data.dataset"),
    ("data.validation_fraction", 1.5, "data.validation_fraction"),
    ("meter.tracking_mode", "node", "meter.tracking_mode"),
    ("meter.pue", 0.5, "meter.pue"),
    ("meter.country_iso_code", "US", "meter.country_iso_code"),
    ("meter.min_window_seconds", -1, "meter.min_window_seconds"),
    ("trial.skip_train", "no", "trial.skip_train"),
    ("trial.threads", 0, "trial.threads"),
    ("search.batch_size", 0, "search.batch_size"),
    ("search.initial_trials", 2.0, "search.initial_trials"),
    ("search.rounds", -1, "search.rounds"),
    ("search.batch_fill", "random", "search.batch_fill"),
    ("search.reference_margin", 2, "search.reference_margin"),
    ("calibration.repeats", 1, "calibration.repeats"),
    ("calibration.on_fail", "ignore", "calibration.on_fail"),
    ("proxies.architectures", 3, "proxies.architectures"),
    ("figures.dpi", 1000, "figures.dpi"),
    ("figures.format", "jpg", "figures.format"),
    ("searh", {}, "searh"),
]

# The broken nested entries the issue measured (and neighbours): each must fail before any job.
NESTED = {
    "fixed-only space": ({"space": {"stride": {"type": "fixed", "value": 1}, "padding": {"type": "fixed", "value": "same"}}}, "space"),
    "initial_trials above a finite space": (
        # initial_trials set here, not taken from config/config.yaml: a user's smaller budget must not turn this case into another one
        {"space": {"kernel_size": {"type": "choice", "values": [1, 3, 5]}, "stride": {"type": "fixed", "value": 1}}, "search": {"initial_trials": 5}},
        "search.initial_trials",
    ),
    "baseline contradicting a fixed value": (
        {"search": {"baseline": [{"width": 8, "depth": 1, "kernel_size": 3, "pooling": False, "stride": 2}]}},
        "search.baseline[0].stride",
    ),
    "baseline outside the space": ({"search": {"baseline": [{"width": 1000, "depth": 1, "kernel_size": 3, "pooling": False}]}}, "search.baseline[0].width"),
    "baseline naming no parameter of the space": ({"search": {"baseline": [{"widht": 8}]}}, "search.baseline[0].widht"),
    "baseline missing a searched parameter": ({"search": {"baseline": [{"width": 8}]}}, "search.baseline[0].depth"),
    "more baselines than initial trials": ({"search": {"initial_trials": 1, "baseline": [{"width": 8}, {"width": 16}]}}, "search.baseline"),
    "unknown field of a range": ({"space": {"width": {"type": "range", "bounds": [2, 64], "values": [2, 4]}}}, "space.width.values"),
    "range without bounds": ({"space": {"width": {"type": "range"}}}, "space.width.bounds"),
    "log-scale range from 0": ({"space": {"width": {"type": "range", "bounds": [0, 64], "log_scale": True}}}, "space.width.bounds"),
    "objective threshold not a number": ({"objectives": {"performance": {"threshold": "half"}}}, "objectives.performance.threshold"),
    "unknown objective field": ({"objectives": {"performance": {"metrc": "performance"}}}, "objectives.performance.metrc"),
    "meter gpu id below 0": ({"meter": {"gpu_ids": [-1]}}, "meter.gpu_ids[0]"),
    "unknown meter field": ({"meter": {"window": 3}}, "meter.window"),
    "NaN setting": ({"meter": {"min_window_seconds": float("nan")}}, "meter.min_window_seconds"),
    "infinite setting in a list": ({"space": {"width": {"type": "range", "bounds": [2, float("inf")]}}}, "space.width.bounds[1]"),
    # Found by a fresh-eyes check after the settings layer landed:
    "study named '..' (outputs outside results/)": ({"study": ".."}, "study"),
    "study named '.'": ({"study": "."}, "study"),
    "calibration params of the wrong type": ({"calibration": {"params": {"width": "x"}}}, "calibration.params.width"),
    "calibration params outside the space": ({"calibration": {"params": {"width": 1000}}}, "calibration.params.width"),
    "calibration params naming no parameter": ({"calibration": {"params": {"widht": 8}}}, "calibration.params.widht"),
    "early stopping keeping everything (eta 1)": ({"early_stopping": {"enabled": True, "reduction_factor": 1}}, "early_stopping.reduction_factor"),
    "early stopping without evidence": ({"early_stopping": {"min_points_at_rung": 0}}, "early_stopping.min_points_at_rung"),
    "early stopping with a first rung of 0": ({"early_stopping": {"min_resource": 0}}, "early_stopping.min_resource"),
    "early stopping with a life-cycle objective (needs the final training joules)": (
        {"early_stopping": {"enabled": True}, "deployment": {"inferences": 1000}, "objectives": {"efficiency": {"metric": "lifecycle_samples_per_joule"}}},
        "early_stopping.enabled",
    ),
    "early stopping for an adapter whose efficiency depends on its weights": (
        {"early_stopping": {"enabled": True}, "adapter": "tests.test_settings:WeightDependentCNN"},
        "early_stopping.enabled",
    ),
    # Found by the fresh-eyes check of issue 14: accepted, then silently never judged a trial.
    "early stopping with no rung below the adapter's max_resource": (
        {"early_stopping": {"enabled": True, "min_resource": 30}, "adapter_options": {"max_epochs": 30}},
        "early_stopping.min_resource",
    ),
    "early stopping of trials that skip training": ({"early_stopping": {"enabled": True}, "trial": {"skip_train": True}}, "trial.skip_train"),
}


class WeightDependentCNN(CNNClassifier):
    """The CNN, declaring that its efficiency depends on its weights (as an early-exit network's would)."""

    efficiency_independent_of_weights = False


def mutated(path: str, value):
    config = copy.deepcopy(DEFAULT)
    *parents, last = path.split(".")
    entry = config
    for part in parents:
        entry = entry[part]
    if value == DELETE:
        del entry[last]
    else:
        entry[last] = value
    return config


def merged(changes):
    """config.yaml with each top-level section of ``changes`` replacing or merged into its own."""
    config = copy.deepcopy(DEFAULT)
    for section, value in changes.items():
        if section == "space" or not isinstance(value, dict):
            config[section] = value
        else:
            config[section] = {**config.get(section, {}), **value}
    return config


def dry_run_checks(config):
    """What the Snakefile runs before any job."""
    check_with_model(validate_study(config))


@pytest.mark.parametrize("path, value, key", MUTATIONS, ids=[f"{p}={v!r}" for p, v, _ in MUTATIONS])
def test_every_mutated_value_fails_before_any_job_naming_its_key(path, value, key):
    """At 3cac022: 35 of these 52 named their key, 16 passed a dry run (the module docstring lists them)."""
    with pytest.raises(ConfigError) as caught:
        dry_run_checks(mutated(path, value))
    assert caught.value.key == key, str(caught.value)
    shown = [repr(item) for item in value] if isinstance(value, list) else [repr(value)]
    assert any(text in str(caught.value) for text in shown) or value in ("", DELETE) or isinstance(value, dict), str(caught.value)


def test_an_objective_named_after_a_sympy_built_in_fails_before_any_job():
    """Ax parses objective names with sympy: 'sec' passed every check, then crashed round 0."""
    config = mutated("objectives", {"performance": {"metric": "performance"}, "sec": {"metric": "samples_per_joule"}})
    with pytest.raises(ConfigError) as caught:
        dry_run_checks(config)
    assert caught.value.key == "objectives.sec"


def test_the_mutation_table_is_at_least_the_issues_35():
    assert len(MUTATIONS) >= 35


@pytest.mark.parametrize("changes, key", list(NESTED.values()), ids=list(NESTED))
def test_broken_nested_entries_fail_before_any_job(changes, key):
    with pytest.raises(ConfigError) as caught:
        dry_run_checks(merged(changes))
    assert caught.value.key == key, str(caught.value)


def test_messages_say_what_the_schema_expects():
    with pytest.raises(ConfigError) as caught:
        validate_study(mutated("search.batch_size", 0))
    assert "an integer >= 1" in caught.value.expected and "candidates per round" in caught.value.expected
    with pytest.raises(ConfigError) as caught:
        validate_study(mutated("meter.tracking_mode", "node"))
    assert "'machine'" in caught.value.expected and "'process'" in caught.value.expected
    with pytest.raises(ConfigError) as caught:
        validate_study(mutated("searh", {}))
    assert "search" in caught.value.expected  # the known sections are listed


def test_defaults_come_from_the_schema_and_sections_are_frozen():
    settings = validate_study({"study": "s", "adapter": "a:B", "space": {"x": {"type": "range", "bounds": [0.0, 1.0]}}})
    assert settings.seed == 0 and settings.stages == ("calibrate", "proxies", "search")
    assert settings.search.batch_size == 2 and settings.meter.min_window_seconds == 3.0 and settings.figures.dpi == 150
    assert [o.metric for o in settings.objectives] == ["performance", "samples_per_joule"]
    assert isinstance(settings.search, SearchSettings) and isinstance(settings.space["x"], Range)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.search.batch_size = 3
    with pytest.raises(TypeError):
        settings.adapter_options["x"] = 1  # a read-only view
    effective = settings.to_dict()
    assert effective["search"]["baseline"] == [] and effective["data"]["dataset"] == "digits"
    assert validate_study(effective).to_dict() == effective  # the effective config is a fixed point


def test_section_classes_have_exactly_the_schema_fields():
    from ecopt.settings import study_schema

    for name, cls in SECTION_CLASSES.items():
        assert [f.name for f in dataclasses.fields(cls)] == list(study_schema()["properties"][name]["properties"])


def test_validating_leaves_the_input_and_the_schema_untouched():
    config = copy.deepcopy(DEFAULT)
    first = validate_study(config)
    assert config == DEFAULT
    second = validate_study(config)
    assert first.to_dict() == second.to_dict()
    assert first.to_dict()["adapter_options"] is not second.to_dict()["adapter_options"]


def test_a_slice_validates_only_its_sections():
    settings = validate_study({"search": {"batch_size": 4}, "meter": {"pue": "bad"}}, sections=["search", "seed"])
    assert settings.search.batch_size == 4 and settings.seed == 0
    assert settings.meter is None and settings.study is None  # not asked for: not checked, not required
    with pytest.raises(ValueError, match="unknown sections"):
        validate_study({}, sections=["serch"])


def test_validate_section_passes_section_objects_through():
    search = validate_section("search", {"batch_size": 3})
    assert validate_section("search", search) is search
    assert validate_section("meter", None).tracking_mode == "machine"
    with pytest.raises(ConfigError) as caught:
        validate_section("figures", {"dpi": 10})
    assert caught.value.key == "figures.dpi"


def test_space_size_counts_finite_spaces_only():
    assert space_size(parse_space({"a": {"type": "choice", "values": [1, 2, 3]}, "b": {"type": "range", "bounds": [1, 4], "value_type": "int"}})) == 12
    assert space_size(parse_space({"a": {"type": "range", "bounds": [0.0, 1.0]}})) is None


def test_a_float_range_over_an_int_hyperparameter_is_refused():
    with pytest.raises(ConfigError) as caught:
        dry_run_checks(merged({"space": {**DEFAULT["space"], "depth": {"type": "range", "bounds": [1.0, 3.0]}}}))
    assert caught.value.key == "space.depth.value_type"


def test_check_with_model_returns_the_adapter_and_skips_metrics_on_request():
    config = mutated("objectives.efficiency.metric", "seconds_per_batch")
    settings = validate_study(config)
    with pytest.raises(ConfigError):
        check_with_model(settings)
    model = check_with_model(settings, any_metric=True)  # ecopt.optimize: metrics are a function's keys
    assert set(settings.space) <= set(model.hyperparameters)


@pytest.mark.parametrize("path", sorted((ROOT / "config" / "studies").glob("*.yaml")) + [ROOT / "config" / "config.yaml"], ids=lambda p: p.stem)
def test_every_shipped_study_passes(path):
    settings = validate_study(yaml.safe_load(path.read_text()))
    assert isinstance(settings, StudySettings)
    if "zoo" in path.stem:
        pytest.importorskip("torchvision")
    check_with_model(settings)


def test_optimize_refuses_a_space_with_nothing_to_search():
    from ecopt.function_api import optimize

    with pytest.raises(ConfigError) as caught:
        optimize(lambda params: {"performance": 1.0, "samples_per_joule": 1.0}, {"padding": Fixed("same")}, n_init=2, rounds=0)
    assert caught.value.key == "space"


@pytest.mark.slow
@pytest.mark.workflow
def test_snakemake_dry_run_stops_on_the_key(tmp_path):
    """``snakemake -n`` on mutated configs exits non-zero and names the key, before any job."""
    snakemake = Path(sys.executable).with_name("snakemake")
    cases = [
        ("adapter_options.batch_size", "64", "adapter_options.batch_size"),
        ("space.stride.value", "one", "space.stride.value"),
        ("search.batch_size", 0, "search.batch_size"),
        ("objectives.efficiency.metric", "samples_per_jule", "objectives.efficiency.metric"),
    ]
    nested = [NESTED["initial_trials above a finite space"], NESTED["baseline contradicting a fixed value"]]
    configs = [(mutated(p, v), key) for p, v, key in cases] + [(merged(changes), key) for changes, key in nested]
    for number, (config, key) in enumerate(configs):
        config["study"] = f"mutated-{number}"
        path = tmp_path / f"{number}.yaml"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run(
            [str(snakemake), "-n", "--cores", "1", "--configfile", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert result.returncode != 0, result.stdout[-2000:]
        assert f"config key '{key}'" in result.stderr, result.stderr[-2000:]
        assert not (ROOT / "results" / config["study"]).exists()


def test_the_default_config_builds_the_cnn(tmp_path):
    settings = validate_study(DEFAULT)
    model = instantiate_adapter(settings, splits_dir=tmp_path)
    assert isinstance(model, CNNClassifier)
    assert isinstance(model.data_config, DataSettings) and model.data_config.dataset == "digits"  # the data section is injected
    assert model.splits_dir == str(tmp_path) and model.seed == settings.seed


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("no_colon", None),
        ("ecopt.nonexistent:Model", "cannot import module"),
        ("ecopt.adapters.cnn:Missing", "has no attribute"),
        ("ecopt.errors:ConfigError", "not a subclass"),
    ],
)
def test_adapter_errors_are_clear(path, fragment):
    if fragment is None:
        with pytest.raises(ConfigError, match="package.module:Class"):
            resolve_adapter(path)
        return
    with pytest.raises(AdapterImportError, match=fragment) as caught:
        resolve_adapter(path)
    assert "config key 'adapter'" in str(caught.value)


def test_an_option_the_constructor_refuses_is_a_config_error():
    settings = validate_study({"adapter": "ecopt.adapters.cnn:CNNClassifier", "adapter_options": {"widht": 3}}, sections=["adapter", "adapter_options", "seed"])
    with pytest.raises(ConfigError) as caught:
        instantiate_adapter(settings)
    assert caught.value.key == "adapter_options"


def test_objective_metrics_are_the_trial_records_numeric_fields():
    from ecopt.settings import trial_metrics

    metrics = trial_metrics()
    assert {"performance", "samples_per_joule", "eval_joules", "parameters", "flops_per_sample"} <= set(metrics)
    assert not {"round", "index", "status", "energy_source", "estimated"} & set(metrics)


def test_space_checks_follow_the_stages():
    small = {"kernel_size": {"type": "choice", "values": [1, 3, 5]}, "stride": {"type": "fixed", "value": 1}}
    fixed = {"stride": {"type": "fixed", "value": 1}}
    # Calibration alone repeats one model: a fixed space is enough, initial_trials is unused.
    assert validate_study({**DEFAULT, "stages": ["calibrate"], "space": fixed}).stages == ("calibrate",)
    with pytest.raises(ConfigError) as caught:
        validate_study({**DEFAULT, "stages": ["proxies"], "space": small})
    assert caught.value.key == "space" and "at least 4 distinct" in caught.value.expected
    with pytest.raises(ConfigError) as caught:
        validate_study({**DEFAULT, "stages": ["search"], "space": small})
    assert caught.value.key == "search.initial_trials"


def test_lifecycle_efficiency_objective_needs_deployment_inferences():
    study = {
        "study": "t",
        "adapter": "tests.fakes:ScriptedModel",
        "space": {"x": {"type": "range", "bounds": [0.0, 1.0]}},
        "objectives": {"performance": {"metric": "performance"}, "efficiency": {"metric": "lifecycle_samples_per_joule"}},
    }
    with pytest.raises(ConfigError, match=r"objectives.efficiency.metric.*deployment.inferences"):
        validate_study(study)
    settings = validate_study({**study, "deployment": {"inferences": 1_000_000}})
    assert settings.objectives[1].metric == "lifecycle_samples_per_joule" and settings.deployment.inferences == 1_000_000


@pytest.mark.parametrize("inferences", [1.5, 0, 0.0, "1000", True])
def test_deployment_inferences_is_a_whole_number_of_at_least_one(inferences):
    # a fraction of an inference is no deployment
    with pytest.raises(ConfigError) as caught:
        validate_study({"deployment": {"inferences": inferences}}, sections=["deployment"])
    assert caught.value.key == "deployment.inferences"


def test_deployment_inferences_written_as_an_integral_float_is_a_whole_number_and_1e6_text_gets_a_hint():
    import yaml

    # YAML reads 1.0e+6 as a float: a lifetime count is naturally written so
    settings = validate_study(yaml.safe_load("deployment: {inferences: 1.0e+6}"), sections=["deployment"])
    assert settings.deployment.inferences == 1_000_000 and type(settings.deployment.inferences) is int
    # ... and 1e6 (no dot) as a string: refused with the hint to write digits
    with pytest.raises(ConfigError, match="written in digits") as caught:
        validate_study(yaml.safe_load("deployment: {inferences: 1e6}"), sections=["deployment"])
    assert caught.value.key == "deployment.inferences"
