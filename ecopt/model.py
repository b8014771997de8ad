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

    from ecopt.early_stopping import RungMonitor


class Model:
    """Base class of model adapters."""

    # True when evaluate()'s performance is itself a measurement (latency) that varies
    # from pass to pass: the trial then records the median pass and the spread.
    performance_varies: bool = False
    # True when evaluate()'s energy per sample does not depend on the trained weights
    # (inference cost set by the architecture alone: a CNN's forward pass, fixed-length
    # generation). Multi-objective early stopping (ecopt.early_stopping) needs it: the
    # trial then measures efficiency on the untrained network, before training.
    efficiency_independent_of_weights: bool = False
    # Set by the trial before train() when early stopping is on; report_rung() consults it.
    rung_monitor: RungMonitor | None = None
    # The training budget in the unit of the adapter's validation checks (epochs, steps): the rungs lie below it.
    max_resource: int | None = None
    # The resource (epoch, step) at which the rung monitor stopped training; None when it did not.
    stopped_at_resource: int | None = None

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

    def report_rung(self, resource: int, performance: float, **entry: float) -> bool:
        """Record one validation check of ``train()``; True means early stopping says stop now.

        Trainers call this at EVERY validation check with ``resource`` (the epoch or
        step, an int) and ``performance``, the validation value of the same metric as
        ``evaluate()``'s performance. ``entry`` holds further learning-curve fields
        (``epoch`` or ``step``, ``train_loss``, ``validation_loss``,
        ``train_seconds``): the check is appended to ``self.learning_curve`` with
        ``performance``. The trial's ``rung_monitor`` (None: early stopping off)
        judges the check at its rungs. On True the adapter restores its best
        weights, sets ``self.stopped_at_resource = resource`` and returns from
        ``train()``.
        """
        if getattr(self, "learning_curve", None) is None:
            self.learning_curve = []
        self.learning_curve.append({**entry, "performance": float(performance)})
        monitor = self.rung_monitor
        return monitor is not None and monitor.report(int(resource), float(performance))

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
