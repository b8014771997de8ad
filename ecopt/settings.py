"""One settings layer: a study config validated once, against one schema, into frozen typed sections.

Design choices:

- The JSON Schema shipped in the package (``ecopt/schemas/config.schema.json``) is
  the single source of every key, type, range, enum, default and description. The
  Snakefile, the stage CLIs and ``ecopt.optimize`` all validate through this module;
  no stage keeps its own defaults or hand-written checks.
- ``jsonschema`` (Draft 2020-12) does the validation. Defaults are filled by a
  validator extension (the recipe of jsonschema's FAQ), not by a separate walk of the
  schema: the ``properties`` keyword first sets each absent property that declares a
  ``default``, then validates, so a section defaulted to ``{}`` gets its own fields'
  defaults as validation descends into it. The input is deep-copied first: neither
  it nor the schema's default objects are ever mutated. Space entries declare no
  defaults (``parse_space`` applies them), so the effective space is the one written.
- ``integer`` means a Python ``int`` that is not a ``bool``: jsonschema's own
  checker accepts ``2.0`` as an integer, which the stages would then use as a float.
  One exception, ``deployment.inferences``: a lifetime count is naturally written
  ``1.0e+6``, which YAML reads as a float, so an integral float there becomes an
  int (``_whole_inferences``); ``1e6`` (no dot), which YAML reads as a *string*,
  is refused with the hint to write digits.
- Each jsonschema error (``best_match`` of them) becomes a ``ConfigError`` naming
  the key path (``search.batch_size``, ``space.width.bounds``, ``stages[0]``), the
  value, and what the schema expects, worded from its type, bounds, enum and the
  property's description.
- Section objects (``settings.search``, ``settings.meter`` ...) are frozen
  dataclasses generated from the schema's section properties at import, so adding a
  setting is one edit of the schema. Lists inside them are tuples and mappings are
  read-only views; ``to_dict()`` gives plain JSON-able values back.
- Checks that need more than one entry (a baseline against the space, a space with
  nothing to search, a finite space against ``search.initial_trials``) run in
  ``validate_study``; checks that need the adapter run once in ``check_with_model``,
  which the Snakefile calls right after validation, before it plans any job.
  Adapter option values are checked against the constructor's annotations with
  pydantic's strict mode (the library does the typing rules, ``Optional``, lists).

Measured on config/config.yaml with 52 single-value mutations and 14 broken nested
entries (tests/test_settings.py): the checks of 3cac022 named the key for 35 of the
52 (16 passed a dry run) and 7 of the 14 (3 passed); these name it for all 66.
Validating config/config.yaml takes about 5 ms and one section 0.4 ms (jsonschema
4.26, on this project's 2-core machine under load), so stages may validate the
mappings they are handed. Building the adapter for ``check_with_model`` costs
< 0.3 s for the CNN and transformer studies; the model-zoo study imports
torchvision (9 s on the loaded machine, once per Snakefile parse).

This module imports no stage module (only errors, hyperparameter, objectives, space,
records' schema loader and, lazily, model), so the stages import it without the
cycle ``ecopt.config`` had.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import inspect
import json
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ecopt.errors import AdapterImportError, ConfigError
from ecopt.hyperparameter import Choice, Fixed, Hyperparameter, Range, ValueType
from ecopt.objectives import Objective, parse_objectives
from ecopt.records import load_schema
from ecopt.space import parse_space

SCHEMA_FILE = "config.schema.json"


def trial_metrics() -> tuple[str, ...]:
    """The numeric fields of a trial record, which an objective's metric may name.

    Read from the published trial-record schema (``ecopt.records``), so a metric
    added to the record is a valid objective without an edit here; ``round`` and
    ``index`` (positions, not measurements) are left out.
    """
    metrics = []
    for name, spec in load_schema("trial_record")["properties"].items():
        types = spec.get("type", [])
        types = [types] if isinstance(types, str) else types
        if {"number", "integer"} & set(types) and name not in ("round", "index"):
            metrics.append(name)
    return tuple(metrics)


@functools.cache
def study_schema() -> dict[str, Any]:
    """The packaged JSON Schema of a study config (a fresh parse, cached; do not mutate it)."""
    text = resources.files("ecopt").joinpath("schemas", SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _filling_defaults(validator_class: Any) -> Any:
    """``validator_class`` whose ``properties`` keyword fills absent properties' defaults first."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties_with_defaults(validator: Any, properties: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]) -> Any:
        if validator.is_type(instance, "object"):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    type_checker = validator_class.TYPE_CHECKER.redefine("integer", _is_integer)
    return jsonschema.validators.extend(validator_class, {"properties": properties_with_defaults}, type_checker=type_checker)


_StudyValidator = _filling_defaults(Draft202012Validator)

# The proxy study's correlations need this many distinct architectures (a confidence interval needs 4 points).
PROXY_MINIMUM = 4

# What `snakemake all` can produce: the meter's calibration, the proxy-correlation
# study, the search (trials, frontier); the schema's enum of `stages` is the list.
STAGES = tuple(study_schema()["properties"]["stages"]["items"]["enum"])


# --------------------------------------------------------------------------- errors
_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _key(path: Sequence[Any]) -> str:
    """``["space", "width", "bounds"]`` -> ``space.width.bounds``; list positions as ``[i]``."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "<top level>"


def describe(schema: Mapping[str, Any]) -> str:
    """What a schema accepts, in words: its type(s), bounds, enum, pattern, then its description."""
    if "enum" in schema:
        words = "one of " + ", ".join(repr(option) for option in schema["enum"])
    elif "const" in schema:
        words = repr(schema["const"])
    else:
        types = schema.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        nullable = "null" in types
        words = " or ".join(_TYPE_WORDS[name] for name in types if name != "null") or "a value"
        bounds = [
            f"{relation} {schema[keyword]}"
            for keyword, relation in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
            if keyword in schema
        ]
        if bounds:
            words += " " + " and ".join(bounds)
        if "minItems" in schema or "maxItems" in schema:
            low, high = schema.get("minItems"), schema.get("maxItems")
            words += f" of {low} items" if low == high else (f" of at least {low} items" if high is None else f" of {low or 0} to {high} items")
        if "pattern" in schema and not schema.get("description"):
            words += f" matching {schema['pattern']}"  # the description, when there is one, says it in words
        if nullable:
            words += " or null"
    description = schema.get("description")
    return f"{words} ({description})" if description else words


def _config_error(error: ValidationError) -> ConfigError:
    """One jsonschema error as a ConfigError naming the key path, the value and what the schema expects."""
    path = list(error.absolute_path)
    keyword, schema, instance = error.validator, error.schema, error.instance
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        known = sorted(schema.get("properties", {}))
        unknown = sorted(str(name) for name in instance if name not in known)[0]
        listed = f"one of the known fields {known}" if known else "no further fields"
        return ConfigError(_key(path + [unknown]), instance[unknown], listed)
    if keyword == "required" and isinstance(instance, Mapping):
        missing = next(name for name in error.validator_value if name not in instance)
        return ConfigError(_key(path + [missing]), None, describe(schema.get("properties", {}).get(missing, {})))
    if keyword == "propertyNames":
        return ConfigError(_key(path + [instance]), instance, "a name of letters, digits and underscores, not starting with a digit")
    if keyword in ("minProperties", "maxProperties"):
        count = error.validator_value
        return ConfigError(_key(path), instance, f"{'at least' if keyword == 'minProperties' else 'at most'} {count} entries ({schema.get('description', '')})")
    if keyword in ("oneOf", "anyOf"):  # e.g. meter.components: a word or a list; the description says both
        return ConfigError(_key(path), instance, schema.get("description", error.message))
    if keyword == "uniqueItems":
        return ConfigError(_key(path), instance, f"distinct items ({schema.get('description', '')})")
    if keyword in ("type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "pattern", "minLength"):
        return ConfigError(_key(path), instance, describe(schema))
    return ConfigError(_key(path), instance, error.message)


# --------------------------------------------------------------------------- sections
def _freeze(value: Any) -> Any:
    """Lists -> tuples, mappings -> read-only views, recursively: a frozen section stays frozen."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of the freezing: plain dicts and lists, ready for JSON or YAML."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value


_PYTHON_TYPES = {"integer": int, "number": float, "string": str, "boolean": bool, "object": Mapping, "array": tuple, "null": type(None)}


def _annotation(schema: Mapping[str, Any]) -> Any:
    if "enum" in schema:
        return str
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    python = [_PYTHON_TYPES[name] for name in types] or [Any]
    return functools.reduce(lambda a, b: a | b, python) if len(python) > 1 else python[0]


class Section:
    """Base of the generated section classes: frozen fields named as in the schema."""

    def to_dict(self) -> dict[str, Any]:
        """The section as plain JSON-able values (tuples back to lists)."""
        return {field.name: thaw(getattr(self, field.name)) for field in dataclasses.fields(self)}  # type: ignore[arg-type]


def _section_class(name: str, schema: Mapping[str, Any]) -> type:
    fields = [(field, _annotation(subschema)) for field, subschema in schema["properties"].items()]
    class_name = "".join(part.title() for part in name.split("_")) + "Settings"
    cls = dataclasses.make_dataclass(class_name, fields, bases=(Section,), frozen=True)
    cls.__doc__ = f"The ``{name}`` section: {schema.get('description', '')}. Fields: " + "; ".join(
        f"{field} - {describe(subschema)}" for field, subschema in schema["properties"].items()
    )
    cls.__module__ = __name__
    return cls


# Top-level sections whose fields the schema lists: each gets a generated frozen class.
SECTION_CLASSES: dict[str, type] = {
    name: _section_class(name, subschema)
    for name, subschema in study_schema()["properties"].items()
    if subschema.get("type") == "object" and "properties" in subschema
}
DataSettings = SECTION_CLASSES["data"]
MeterSettings = SECTION_CLASSES["meter"]
TrialSettings = SECTION_CLASSES["trial"]
EarlyStoppingSettings = SECTION_CLASSES["early_stopping"]
SearchSettings = SECTION_CLASSES["search"]
CalibrationSettings = SECTION_CLASSES["calibration"]
ProxiesSettings = SECTION_CLASSES["proxies"]
FiguresSettings = SECTION_CLASSES["figures"]
NetImpactSettings = SECTION_CLASSES["net_impact"]
DeploymentSettings = SECTION_CLASSES["deployment"]
MlflowSettings = SECTION_CLASSES["mlflow"]


@dataclass(frozen=True)
class StudySettings:
    """A validated study: every top-level entry, defaults filled, sections typed and frozen.

    A field is None when ``validate_study`` was asked for other sections only.
    ``space`` maps parameter names to parsed ``Hyperparameter`` domains;
    ``objectives`` holds the two ``Objective``s.
    """

    study: str | None = None
    seed: int | None = None
    stages: tuple[str, ...] | None = None
    adapter: str | None = None
    adapter_options: Mapping[str, Any] | None = None
    space: Mapping[str, Hyperparameter] | None = None
    objectives: tuple[Objective, ...] | None = None
    data: DataSettings | None = None
    meter: MeterSettings | None = None
    trial: TrialSettings | None = None
    early_stopping: EarlyStoppingSettings | None = None
    search: SearchSettings | None = None
    calibration: CalibrationSettings | None = None
    proxies: ProxiesSettings | None = None
    figures: FiguresSettings | None = None
    net_impact: NetImpactSettings | None = None
    deployment: DeploymentSettings | None = None
    mlflow: MlflowSettings | None = None  # absent: tracking off (the section has no default)
    effective: Mapping[str, Any] = dataclasses.field(default_factory=lambda: MappingProxyType({}), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The effective config (defaults filled) as plain JSON-able values, in the input's key order."""
        return thaw(self.effective)


# --------------------------------------------------------------------------- validation
@functools.cache
def _schema_for(sections: tuple[str, ...] | None) -> dict[str, Any]:
    schema = study_schema()
    if sections is None:
        return schema
    restricted = {key: value for key, value in schema.items() if key not in ("properties", "required")}
    restricted["properties"] = {name: schema["properties"][name] for name in sections}
    return restricted


def _validated_mapping(mapping: Any, sections: tuple[str, ...] | None) -> dict[str, Any]:
    if not isinstance(mapping, Mapping):
        raise ConfigError("<top level>", mapping, "a mapping of sections " + str(sorted(study_schema()["properties"])))
    instance = copy.deepcopy(dict(mapping))
    if sections is not None:
        unknown = sorted(set(sections) - set(study_schema()["properties"]))
        if unknown:
            raise ValueError(f"validate_study: unknown sections {unknown}; the schema has {sorted(study_schema()['properties'])}")
        instance = {key: value for key, value in instance.items() if key in sections}
    _refuse_non_finite(instance, [])
    _whole_inferences(instance)
    errors = list(_StudyValidator(_schema_for(sections)).iter_errors(instance))
    if errors:
        raise _config_error(best_match(errors))
    return instance


def _whole_inferences(instance: dict[str, Any]) -> None:
    """``deployment.inferences`` written as an integral float (``1.0e+6``) becomes an int, in place; a string is refused.

    Raises ConfigError for a string (YAML reads ``1e6`` without a dot as one),
    with the hint to write the count in digits.
    """
    deployment = instance.get("deployment")
    if not isinstance(deployment, dict):
        return
    value = deployment.get("inferences")
    if isinstance(value, float) and value.is_integer():
        deployment["inferences"] = int(value)
    elif isinstance(value, str):
        raise ConfigError("deployment.inferences", value, "a whole number written in digits (1000000) or as 1.0e+6: YAML reads 1e6 without a dot as text")


def _refuse_non_finite(value: Any, path: list[Any]) -> None:
    """NaN and infinity are no setting's value: YAML reads ``.nan`` and ``.inf`` as floats,
    JSON Schema's ``number`` accepts them, and the workflow's JSON params cannot hold them
    (a traceback from Snakemake instead of an error naming the key). Raises ConfigError."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(_key(path), value, "a finite number (NaN and infinity are not settings)")
    if isinstance(value, Mapping):
        for name, item in value.items():
            _refuse_non_finite(item, [*path, name])
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            _refuse_non_finite(item, [*path, position])


def validate_section(name: str, section: Any) -> Any:
    """One section (``"meter"``, ``"search"`` ...) as its frozen settings object.

    A section object passes through unchanged; a mapping (or None, meaning all
    defaults) is validated against the schema's section with defaults filled.
    Errors name ``<name>.<field>``.
    """
    cls = SECTION_CLASSES[name]
    if isinstance(section, cls):
        return section
    return getattr(validate_study({name: {} if section is None else section}, sections=[name]), name)


def validate_study(mapping: Any, *, sections: Iterable[str] | None = None) -> StudySettings:
    """Validate a study config against the packaged schema; return it with defaults filled, typed and frozen.

    ``sections``: validate only these top-level entries (a stage that gets a slice of
    the config); other entries of ``mapping`` are ignored and come back as None, and
    none is required. Without it the whole study is checked, unknown keys included.
    Beyond the schema: each space parameter is built (bounds in order, a log scale
    above 0, values of its type), the objectives get their defaults by name, and for
    a study with the search stage (``check_space``) a space with nothing to search is
    refused, the baseline is checked against the space, and a finite space must hold at
    least ``search.initial_trials`` distinct configurations (for a study that searches),
    and at least 4 for a study with the proxy stage.

    Raises ConfigError naming the key path, the value and what was expected.
    """
    names = tuple(sections) if sections is not None else None
    effective = _validated_mapping(mapping, names)
    parsed: dict[str, Any] = {}
    for name, value in effective.items():
        if name in SECTION_CLASSES:
            parsed[name] = SECTION_CLASSES[name](**{field: _freeze(item) for field, item in value.items()})
        elif name == "space":
            parsed[name] = MappingProxyType(parse_space(value))
        elif name == "objectives":
            parsed[name] = tuple(parse_objectives(value))
        elif name == "stages":
            parsed[name] = tuple(value)
        elif name == "adapter_options":
            parsed[name] = _freeze(value)
        else:
            parsed[name] = value
    settings = StudySettings(**parsed, effective=_freeze(effective))
    if settings.search is not None and len(settings.search.baseline) > settings.search.initial_trials:
        raise ConfigError(
            "search.baseline",
            thaw(settings.search.baseline),
            f"at most search.initial_trials ({settings.search.initial_trials}) configurations: they are part of round 0",
        )
    if settings.objectives is not None and settings.deployment is not None and settings.deployment.inferences is None:
        lifecycle = [o for o in settings.objectives if o.metric == "lifecycle_samples_per_joule"]
        if lifecycle:
            raise ConfigError(
                f"objectives.{lifecycle[0].name}.metric",
                lifecycle[0].metric,
                "a metric every trial records: lifecycle_samples_per_joule needs deployment.inferences",
            )
    if settings.early_stopping is not None and settings.early_stopping.enabled and settings.trial is not None and settings.trial.skip_train:
        # Early stopping judges training; a trial that skips it was silently never judged.
        raise ConfigError("trial.skip_train", True, "false while early_stopping.enabled: a trial that does not train has nothing to stop")
    if settings.objectives is not None and settings.early_stopping is not None and settings.early_stopping.enabled:
        from ecopt.early_stopping import check_objectives

        check_objectives(settings.objectives)
    # A slice without `stages` may serve any stage: it gets every check.
    stages = settings.stages if settings.stages is not None else STAGES
    if settings.space is not None and "search" in stages:
        check_space(settings.space, settings.search)
    if settings.space is not None and settings.calibration is not None and settings.calibration.params is not None:
        # The calibration model is built from these (searched parameters left out keep the adapter's defaults).
        check_configuration(settings.space, thaw(settings.calibration.params), "calibration.params", complete=False)
    if settings.space is not None and "proxies" in stages:
        size = space_size(settings.space)
        if size is not None and size < PROXY_MINIMUM:
            shown = thaw(effective["space"])
            raise ConfigError("space", shown, f"at least {PROXY_MINIMUM} distinct configurations for the proxy study (this space holds {size})")
    return settings


def study_settings(config: StudySettings | Mapping[str, Any], sections: Iterable[str]) -> StudySettings:
    """``config`` itself when it is already validated, else ``validate_study(config, sections=sections)``."""
    if isinstance(config, StudySettings):
        return config
    return validate_study(config, sections=sections)


def check_space(space: Mapping[str, Hyperparameter], search: Any = None) -> None:
    """A space with something to search; with the search settings, a baseline inside it and
    a finite space holding at least ``search.initial_trials`` distinct configurations.

    Raises ConfigError naming ``space``, ``search.baseline[i].<parameter>`` or ``search.initial_trials``.
    """
    if all(isinstance(hp, Fixed) for hp in space.values()):
        shown = {name: hp.to_dict(name) for name, hp in space.items()}
        raise ConfigError("space", shown, "at least one range or choice parameter: a space of fixed values has nothing to search")
    if search is None:
        return
    for position, point in enumerate(search.baseline):
        check_configuration(space, point, f"search.baseline[{position}]")
    size = space_size(space)
    if size is not None and search.initial_trials > size:
        raise ConfigError("search.initial_trials", search.initial_trials, f"at most {size}: the space holds only {size} distinct configurations")


def space_size(space: Mapping[str, Hyperparameter]) -> int | None:
    """How many distinct configurations a space holds, or None when a float range makes it infinite."""
    size = 1
    for hyperparameter in space.values():
        if isinstance(hyperparameter, Range):
            if hyperparameter.value_type is not ValueType.INT:
                return None
            size *= int(hyperparameter.max) - int(hyperparameter.min) + 1
        elif isinstance(hyperparameter, Choice):
            size *= len(hyperparameter.values)
    return size


def check_configuration(space: Mapping[str, Hyperparameter], point: Mapping[str, Any], key: str, *, complete: bool = True) -> None:
    """A configuration (name -> value) inside the space: known names, searched values in their domain,
    fixed values equal to the space's (they may be left out). With ``complete=False`` searched
    parameters may be left out too (they keep the adapter's defaults). Errors name ``key.<parameter>``."""
    for name, value in point.items():
        if name not in space:
            raise ConfigError(f"{key}.{name}", value, f"a parameter of the space: one of {sorted(space)}")
        try:
            space[name]._validate(value)
        except ValueError as error:
            raise ConfigError(f"{key}.{name}", value, f"a value inside the space ({error})") from None
    missing = [name for name, hp in space.items() if name not in point and not isinstance(hp, Fixed)]
    if missing and complete:
        raise ConfigError(f"{key}.{missing[0]}", None, f"a value for every searched parameter ({sorted(missing)} missing)")


# --------------------------------------------------------------------------- the adapter
def resolve_adapter(path: Any) -> type:
    """Import ``package.module:Class`` and return the class, a subclass of ``ecopt.model.Model``.

    ConfigError when ``path`` is not of that form; AdapterImportError (an ImportError)
    naming the module or attribute that cannot be imported or is not a Model.
    """
    from ecopt.model import Model

    if not isinstance(path, str) or path.count(":") != 1:
        raise ConfigError("adapter", path, "an import path 'package.module:Class'")
    module_name, class_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise AdapterImportError(f"config key 'adapter': cannot import module {module_name!r} of {path!r}: {error}") from error
    adapter = getattr(module, class_name, None)
    if adapter is None:
        raise AdapterImportError(f"config key 'adapter': module {module_name!r} has no attribute {class_name!r}")
    if not (inspect.isclass(adapter) and issubclass(adapter, Model)):
        raise AdapterImportError(f"config key 'adapter': {path!r} is not a subclass of ecopt.model.Model")
    return adapter


def instantiate_adapter(settings: StudySettings, splits_dir: str | Path | None = None) -> Any:
    """Build the study's adapter with its options.

    Adapters that declare a ``data``, ``splits_dir`` or ``seed`` constructor argument
    get the study's data section (a frozen ``DataSettings``), the prepared-splits
    folder and the study seed unless the options set them.
    """
    adapter = resolve_adapter(settings.adapter)
    options = thaw(settings.adapter_options or {})
    accepted = inspect.signature(adapter.__init__).parameters
    if "data" in accepted and "data" not in options and settings.data is not None:
        options["data"] = settings.data
    if "splits_dir" in accepted and "splits_dir" not in options and splits_dir is not None:
        options["splits_dir"] = str(splits_dir)
    if "seed" in accepted and "seed" not in options:
        options["seed"] = settings.seed if settings.seed is not None else 0
    try:
        return adapter(**options)
    except TypeError as error:
        raise ConfigError("adapter_options", thaw(settings.adapter_options or {}), f"keyword arguments accepted by {settings.adapter} ({error})") from None


# --------------------------------------------------------------------------- checks with the model
def check_with_model(settings: StudySettings, *, metrics: Sequence[str] | None = None, any_metric: bool = False, objective_names: bool = True) -> Any:
    """The checks that need the adapter, run once before any job; returns the built adapter.

    - ``adapter``: importable, a subclass of ``ecopt.model.Model``;
    - ``adapter_options``: each a keyword of the adapter's constructor, of the type its
      annotation declares (checked by pydantic in strict mode: ``"64"`` is not an int,
      ``true`` is not an int, ``1`` is a float), then the constructor's own checks;
    - ``space``: each parameter declared by the adapter; a fixed value, range bounds
      and choice values inside the adapter's domain of that hyperparameter;
    - ``early_stopping``: when enabled, the adapter declares ``efficiency_independent_of_weights``
      and a ``max_resource`` above ``early_stopping.min_resource`` (``ecopt.early_stopping.check_adapter``);
    - ``objectives``: each metric one of ``metrics`` (default: ``trial_metrics()``,
      the trial record's numeric fields); ``any_metric=True`` skips this check, as for
      ``ecopt.optimize``, whose metrics are the keys of a user function's result;
    - objective names Ax can parse (``check_objective_names``); ``objective_names=False``
      skips it where the same config was checked already: the Snakefile passes it in the
      Snakemake runs inside a cluster job (two per SLURM job), where importing sympy for
      it cost ~0.4 s each.

    The adapter is built once, without prepared splits: constructors should stay
    cheap (ECOpt's adapters load data and weights in ``define()``).

    Raises ConfigError naming the key.
    """
    if objective_names:
        check_objective_names(settings.objectives or ())
    try:
        adapter_class = resolve_adapter(settings.adapter)
    except AdapterImportError as error:
        reason = str(error).removeprefix("config key 'adapter': ")
        raise ConfigError("adapter", settings.adapter, f"an importable subclass of ecopt.model.Model ({reason})") from None
    options = thaw(settings.adapter_options or {})
    _check_options(adapter_class, settings.adapter, options)
    model = instantiate_adapter(settings)
    if settings.early_stopping is not None and settings.early_stopping.enabled:
        from ecopt.early_stopping import check_adapter

        check_adapter(model, settings.early_stopping.min_resource)
    declared = model.hyperparameters
    for name, hyperparameter in (settings.space or {}).items():
        _check_domain(name, hyperparameter, declared, settings.adapter, thaw(settings.effective["space"][name]))
    if not any_metric:
        metrics = trial_metrics() if metrics is None else metrics
        for objective in settings.objectives or ():
            if objective.metric not in metrics:
                raise ConfigError(f"objectives.{objective.name}.metric", objective.metric, f"a numeric field of the trial record: one of {list(metrics)}")
    return model


def check_objective_names(objectives: Sequence[Objective]) -> None:
    """Objective names Ax can parse: none may be one of sympy's built-in names.

    Ax (``ax.utils.common.string_utils``) parses the objective and threshold
    expressions with sympy and refuses identifiers such as ``sec``, ``sin`` or ``E``
    with a raw ValueError in the first round; this check says so before any job.
    sympy (an Ax dependency) is imported here only, ~0.6 s of CPU, once per check.
    Raises ConfigError naming ``objectives.<name>``.
    """
    import sympy

    reserved = set(dir(sympy)) - {"oo"}  # Ax allows oo
    for objective in objectives:
        if objective.name in reserved:
            raise ConfigError(
                f"objectives.{objective.name}",
                objective.name,
                "an objective name that is not one of sympy's built-in names (Ax parses objectives with sympy): rename it, e.g. 'my_" + objective.name + "'",
            )


def _check_options(adapter_class: type, adapter: Any, options: Mapping[str, Any]) -> None:
    import pydantic

    signature = inspect.signature(adapter_class.__init__)
    parameters = {name: p for name, p in signature.parameters.items() if name != "self"}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    keywords = [name for name, p in parameters.items() if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    try:
        hints = typing.get_type_hints(adapter_class.__init__)
    except (NameError, TypeError):  # an annotation that does not resolve declares no type we can check
        hints = {}
    for name, value in options.items():
        if name not in parameters:
            if takes_any:
                continue
            raise ConfigError(f"adapter_options.{name}", value, f"a keyword argument of {adapter}: one of {keywords}")
        if name not in hints:
            continue
        try:
            pydantic.TypeAdapter(hints[name]).validate_python(value, strict=True)
        except pydantic.ValidationError:
            raise ConfigError(f"adapter_options.{name}", value, f"a value of type {_type_name(hints[name])}, as {adapter} declares") from None
        except pydantic.PydanticUserError:  # an annotation pydantic cannot build a check for (a torch type...)
            continue


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _check_domain(name: str, hyperparameter: Hyperparameter, declared: Mapping[str, Hyperparameter], adapter: Any, entry: Any) -> None:
    if name not in declared:
        raise ConfigError(f"space.{name}", entry, f"a hyperparameter {adapter} declares: one of {sorted(declared)}")
    domain = declared[name]
    if isinstance(hyperparameter, Fixed):
        values, where = [hyperparameter.value], f"space.{name}.value"
    elif isinstance(hyperparameter, Range):
        values, where = [hyperparameter.min, hyperparameter.max], f"space.{name}.bounds"
    else:
        values, where = list(getattr(hyperparameter, "values", [])), f"space.{name}.values"
    for value in values:
        try:
            domain._validate(value)
        except ValueError as error:
            shown = [hyperparameter.min, hyperparameter.max] if isinstance(hyperparameter, Range) else (values if len(values) > 1 else value)
            raise ConfigError(where, shown, f"values inside {adapter}'s domain of {name}, {domain!r} ({error})") from None
    # A float range over an int hyperparameter passes its bounds but proposes 2.5.
    if isinstance(hyperparameter, Range) and domain.value_type is ValueType.INT and hyperparameter.value_type is ValueType.FLOAT:
        raise ConfigError(f"space.{name}.value_type", "float", f"'int': {adapter}'s {name} takes integers")
