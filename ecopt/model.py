"""The adapter interface a user implements to put a model under ECOpt.

Compatible with the reference ECOpt package: subclasses declare ``Hyperparameter``
attributes, build the model in ``define()``, fit it in ``train()`` and score it in
``evaluate()``. ECOpt sets the hyperparameter values, meters ``train()`` and
``evaluate()`` separately, and calls ``evaluate()`` repeatedly inside one metering
window when a single pass is too short to measure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ecopt.hyperparameter import Hyperparameter

if TYPE_CHECKING:  # torch is heavy; only type checkers need it here
    import torch


class Model:
    """Base class of model adapters."""

    # True when evaluate()'s performance is itself a measurement (latency) that varies
    # from pass to pass: the trial then records the median pass and the spread.
    performance_varies: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if type(self) is Model:
            raise NotImplementedError("Model is abstract: subclass it and implement define(), train() and evaluate()")

    @property
    def hyperparameters(self) -> dict[str, Hyperparameter]:
        """Every ``Hyperparameter`` attribute of this model (class or instance), by name."""
        found: dict[str, Hyperparameter] = {}
        for klass in reversed(type(self).__mro__):
            for name, attribute in vars(klass).items():
                if isinstance(attribute, Hyperparameter):
                    found[name] = attribute
        for name, attribute in vars(self).items():
            if isinstance(attribute, Hyperparameter):
                found[name] = attribute
        return found

    def set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        """Assign values chosen by the optimiser; each is checked against its domain."""
        declared = self.hyperparameters
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown}; this model declares {sorted(declared)}")
        for name, value in values.items():
            try:
                declared[name].value = value
            except ValueError as error:
                raise ValueError(f"hyperparameter '{name}': {error}") from None

    def define(self) -> None:
        """Build the model from the current hyperparameter values."""
        raise NotImplementedError

    def train(self) -> None:
        """Fit the model. Metered as the training phase."""
        raise NotImplementedError

    def evaluate(self) -> tuple[float, int]:
        """Score the model once over the evaluation set: ``(performance, num_samples)``."""
        raise NotImplementedError

    # Optional hooks: implement them to get parameter and FLOP counts in trial records.
    def network(self) -> torch.nn.Module | None:
        """The torch module whose parameters and FLOPs describe this model, if any."""
        return None

    def single_sample_input(self) -> tuple[Any, ...] | None:
        """Positional inputs for one sample (batch of one), used to count FLOPs."""
        return None
