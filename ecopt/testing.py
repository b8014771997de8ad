"""The adapter contract, shipped: checks a user runs on their own ``ecopt.model.Model`` subclass.

ECOpt's trial, calibration and proxy stages rely on a few promises from every
adapter. These checks state them as code, so that a user's adapter can be tested
the same way the shipped ones are (``tests/test_adapter_contract.py`` runs them on
every built-in adapter):

1. ``check_hyperparameters``: the adapter declares ``Hyperparameter`` attributes,
   accepts an example assignment and reads it back, and refuses an unknown name
   with ``ValueError`` ("unknown hyperparameter").
2. ``check_define_train_evaluate``: ``define()``, then ``train()`` (or, for an
   inference-only adapter, a ``ConfigError`` naming ``trial.skip_train`` instead of
   training garbage), then two ``evaluate()`` passes returning ``(float, int > 0)``
   with the same sample count (the meter repeats passes to fill its window) and the
   same score unless the class sets ``performance_varies = True`` or the score is
   NaN. The optional cost hooks (``network()``, ``single_sample_input()``), when
   implemented, give a ``torch.nn.Module`` with parameters and a positive FLOP count
   (``ecopt.cost``, torch's ``FlopCounterMode``).
3. ``check_evaluate_before_define``: ``evaluate()`` before ``define()`` is a
   ``RuntimeError`` that names ``define``, not an ``AttributeError`` on ``None``.

Usage, on your own adapter::

    from ecopt.testing import check_adapter
    check_adapter(MyModel, {"max_epochs": 1}, params={"width": 4})

or one pytest test per check::

    @pytest.mark.parametrize("check", ecopt.testing.CHECKS, ids=lambda c: c.__name__)
    def test_my_adapter(check):
        check(lambda: MyModel(max_epochs=1), {"width": 4})

Design choices: the checks raise ``AdapterContractError`` (an ``AssertionError``,
so pytest reports it as a failed assertion) with a message naming the adapter and
the broken promise, and need nothing but ``ecopt`` itself: pytest is a test extra,
not a dependency. Each check builds a fresh adapter from the factory, so one
check's state never leaks into the next. torch is imported only when a check
reaches the cost hooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ecopt.errors import ConfigError
from ecopt.model import Model

AdapterFactory = Callable[[], Model]


class AdapterContractError(AssertionError):
    """An adapter broke one of the promises ECOpt's stages rely on; the message says which."""


def _build(factory: AdapterFactory) -> Model:
    model = factory()
    if not isinstance(model, Model):
        raise AdapterContractError(f"the factory returned {type(model).__name__}, not an ecopt.model.Model subclass")
    return model


def _example(model: Model, params: Mapping[str, Any] | None) -> dict[str, Any]:
    # Without an example, the adapter's own default values are the assignment to check.
    if params is None:
        return {name: hyperparameter.value for name, hyperparameter in model.hyperparameters.items()}
    return dict(params)


def _require(condition: bool, model: Model, message: str) -> None:
    if not condition:
        raise AdapterContractError(f"{type(model).__name__}: {message}")


def check_hyperparameters(factory: AdapterFactory, params: Mapping[str, Any] | None = None) -> None:
    """Check promise 1 on a fresh adapter from ``factory`` (a zero-argument callable returning a ``Model``).

    ``params`` maps hyperparameter names to an example assignment (default: the
    declared default values). Raises ``AdapterContractError`` when the adapter
    declares no hyperparameters, does not know a name in ``params``, does not read
    a value back as set, or accepts an unknown name.
    """
    model = _build(factory)
    declared = model.hyperparameters
    _require(bool(declared), model, "declares no Hyperparameter attributes (Range, Choice or Fixed): nothing to tune")
    example = _example(model, params)
    unknown = sorted(set(example) - set(declared))
    _require(not unknown, model, f"the example sets {unknown}, which it does not declare (it declares {sorted(declared)})")
    try:
        model.set_hyperparameters(example)
    except ValueError as error:
        raise AdapterContractError(f"{type(model).__name__}: refuses its own example {example}: {error}") from None
    read_back = {name: model.hyperparameters[name].value for name in example}
    _require(read_back == example, model, f"reads back {read_back} after set_hyperparameters({example})")
    try:
        model.set_hyperparameters({"no_such_parameter": 1})
    except ValueError as error:
        _require("unknown hyperparameter" in str(error), model, f"an unknown name gives ValueError without saying so: {error}")
    else:
        raise AdapterContractError(f"{type(model).__name__}: accepts a hyperparameter it does not declare ('no_such_parameter')")


def check_define_train_evaluate(factory: AdapterFactory, params: Mapping[str, Any] | None = None, *, require_cost_hooks: bool = False) -> None:
    """Check promise 2 on a fresh adapter from ``factory`` with ``params`` set (default: the declared defaults).

    Runs ``define()``, ``train()`` and two ``evaluate()`` passes (so it takes as long
    as one short trial: give the factory small options). ``require_cost_hooks``
    makes ``network()`` returning None a failure (the shipped adapters all implement
    it). Raises ``AdapterContractError``; errors the adapter itself raises (other
    than the inference-only ``ConfigError``) propagate unchanged.
    """
    model = _build(factory)
    model.set_hyperparameters(_example(model, params))
    model.define()
    try:
        model.train()
    except ConfigError as error:  # inference-only: it must name the setting to use instead
        _require(error.key == "trial.skip_train", model, f"train() raised a ConfigError naming {error.key!r}, expected 'trial.skip_train'")
    first, second = model.evaluate(), model.evaluate()
    for result in (first, second):
        _require(isinstance(result, tuple) and len(result) == 2, model, f"evaluate() returned {result!r}, expected (performance, num_samples)")
        performance, samples = result
        _require(isinstance(performance, float), model, f"evaluate() performance is {type(performance).__name__}, expected float")
        _require(
            isinstance(samples, int) and not isinstance(samples, bool) and samples > 0, model, f"evaluate() sample count is {samples!r}, expected an int > 0"
        )
    _require(first[1] == second[1], model, f"two evaluate() passes covered {first[1]} and {second[1]} samples; the meter repeats passes, so they must agree")
    if not model.performance_varies and not math.isnan(first[0]):
        _require(
            first[0] == second[0],
            model,
            f"two evaluate() passes scored {first[0]} and {second[0]}; set performance_varies = True if the score is a measurement",
        )
    network = model.network()
    if network is None:
        _require(not require_cost_hooks, model, "network() returned None: parameter and FLOP counts will be missing from trial records")
        return
    import torch

    from ecopt.cost import count_flops, count_parameters

    _require(isinstance(network, torch.nn.Module), model, f"network() returned {type(network).__name__}, expected a torch.nn.Module")
    _require(count_parameters(network) > 0, model, "network() has no parameters")
    inputs = model.single_sample_input()
    if inputs is None:
        _require(not require_cost_hooks, model, "single_sample_input() returned None: FLOPs will be missing from trial records")
        return
    _require(count_flops(network, inputs) > 0, model, "one forward pass on single_sample_input() counts 0 FLOPs")


def check_evaluate_before_define(factory: AdapterFactory, params: Mapping[str, Any] | None = None) -> None:
    """Check promise 3: ``evaluate()`` on a fresh adapter before ``define()`` raises a ``RuntimeError`` that names ``define``.

    Raises ``AdapterContractError`` when it returns, or fails in another way.
    """
    model = _build(factory)
    model.set_hyperparameters(_example(model, params))
    try:
        model.evaluate()
    except RuntimeError as error:
        _require("define" in str(error), model, f"evaluate() before define() raised RuntimeError without naming define(): {error}")
    except Exception as error:  # noqa: BLE001 - any other failure is exactly what the promise rules out
        raise AdapterContractError(
            f"{type(model).__name__}: evaluate() before define() raised {type(error).__name__} ({error}); expected a RuntimeError naming define()"
        ) from error
    else:
        raise AdapterContractError(f"{type(model).__name__}: evaluate() before define() returned instead of raising RuntimeError")


# Every check, in the order check_adapter runs them; each takes (factory, params).
CHECKS: tuple[Callable[..., None], ...] = (check_hyperparameters, check_define_train_evaluate, check_evaluate_before_define)


def check_adapter(
    adapter: type[Model] | AdapterFactory,
    options: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    require_cost_hooks: bool = False,
) -> list[str]:
    """Run every contract check on an adapter; return the names of the checks run (all passed).

    ``adapter`` is a ``Model`` subclass, built as ``adapter(**options)`` (the
    study's ``adapter_options``) for each check, or a zero-argument factory (then
    ``options`` must be None). ``params`` is an example hyperparameter assignment
    (default: the declared defaults). Raises ``AdapterContractError`` at the first
    broken promise, ``TypeError`` for options given with a factory.
    """
    if isinstance(adapter, type):
        keyword_options = dict(options or {})

        def factory() -> Model:
            return adapter(**keyword_options)

    else:
        if options is not None:
            raise TypeError("options are for an adapter class; a factory builds its adapter itself")
        factory = adapter
    check_hyperparameters(factory, params)
    check_define_train_evaluate(factory, params, require_cost_hooks=require_cost_hooks)
    check_evaluate_before_define(factory, params)
    return [check.__name__ for check in CHECKS]
