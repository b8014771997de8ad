"""Where a stage CLI gets its study settings: from the workflow, or from a study file.

Every stage (``python -m ecopt.<stage>``) accepts exactly one of

* ``--settings JSON``: the effective config slice its Snakemake rule passes as a
  param. The Snakefile has already validated the whole study (and filled its
  defaults) before it planned any job, so the slice is what the job runs with.
  Passing the slice itself, not a path, is the design choice that matters:

  - nothing is written at parse time, so a dry run, ``--lint`` or a run that
    cannot lock the working directory leaves ``results/`` untouched (before, every
    invocation rewrote ``results/<study>/study.yaml``, and a dry run with an
    edited config changed what a running study's next trials measured);
  - a job reads no undeclared file: its settings arrive on its command line;
  - the slice is also the rule's param, serialised canonically (sorted keys, see
    ``settings_json``), so Snakemake reruns a stage exactly when a value it reads
    changes, and never for comments, key order or whitespace in the YAML.

* ``--config PATH``: a study YAML, for people running one stage by hand.

Either way ``study_mapping`` returns the raw mapping and the stage validates the
sections it reads with ``ecopt.settings.validate_study(mapping, sections=...)``
(errors name the key), ignoring the rest.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ecopt.errors import ConfigError


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive, required ``--config PATH`` / ``--settings JSON`` pair to ``parser``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="a study config (YAML), for running this stage by hand")
    source.add_argument(
        "--settings",
        help="the study's effective settings as one JSON object (what the workflow passes: the sections this stage reads)",
    )


def study_mapping(args: argparse.Namespace, *, fill_baseline: bool = False) -> dict[str, Any]:
    """The study mapping named by ``args.settings`` (JSON text) or ``args.config`` (a YAML file).

    Returns a plain dict of top-level sections, not yet validated. With
    ``fill_baseline`` (the stages that read ``search.baseline``), a ``--config``
    study gets the adapter-default baseline the workflow fills
    (``ecopt.net_impact.fill_study_baseline``); ``--settings`` is the workflow's
    effective slice, already filled, and is taken as given.
    Raises ``ConfigError`` naming ``--settings`` or ``--config`` when the text does
    not parse, the file does not exist, or the top level is not a mapping.
    """
    if getattr(args, "settings", None) is not None:
        try:
            mapping = json.loads(args.settings)
        except json.JSONDecodeError as error:
            raise ConfigError("--settings", args.settings, f"a JSON object ({error})") from None
        key = "--settings"
    else:
        from ecopt.config import read_study_yaml

        mapping = read_study_yaml(args.config)
        key = "--config"
    if not isinstance(mapping, Mapping):
        raise ConfigError(key, mapping, "a mapping of study sections")
    if fill_baseline and key == "--config":
        from ecopt.net_impact import fill_study_baseline

        return fill_study_baseline(mapping)
    return dict(mapping)


def settings_json(mapping: Mapping[str, Any]) -> str:
    """``mapping`` as canonical JSON: sorted keys, no spaces, no NaN.

    This text is both what a rule passes to its stage as ``--settings`` and the
    rule's param that Snakemake compares between runs. Snakemake stores each
    param's ``repr``, so a dict param would change with the YAML's key order;
    canonical text changes only when a value changes. Raises ``TypeError`` for a
    value JSON cannot hold and ``ValueError`` for NaN or infinity.
    """
    return json.dumps(canonical_numbers(dict(mapping)), sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical_numbers(value: Any) -> Any:
    """``value`` with every integral float written as an int (``1.0`` -> ``1``), recursively.

    YAML reads ``1`` and ``1.0`` as different types, but they are the same setting:
    without this, restating ``min_window_seconds: 1.0`` as ``1`` changed the rules'
    params and the trials' fingerprints and re-metered every trial. The schema's
    ``number`` accepts both, so the stage sees the same value. Booleans are left alone.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: canonical_numbers(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_numbers(item) for item in value]
    return value
