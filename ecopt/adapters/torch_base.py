"""What every built-in torch adapter shares: device, seed, the network slot, training options and early stopping.

``TorchModel`` sits between ``ecopt.model.Model`` (the interface a user implements)
and the shipped adapters (``cnn``, ``transformer``, ``zoo``). Before it existed, the
CNN and the causal-LM trainer each carried a copy of the same loop pieces: option
checks for the learning rate and patience, the "define() first" guard, a batched
validation loss under ``torch.inference_mode`` and an early-stopping rule written out
twice. They now live here once, so the two trainers stop under the same rule.

Design choices:

* ``EarlyStopping`` is a small object, not a training loop: the CNN checks once per
  epoch and the LM trainer every ``eval_interval`` steps, so the loop stays with the
  adapter and only the rule (and the best weights) is shared.
* The rule is the one both adapters used before, unchanged: a check *improves* when
  ``value < best - min_delta``; training stops once ``max(1, patience)`` checks in a
  row have not improved; the weights of the best check are restored at the end.
  A NaN validation value never improves (``nan < x`` is false).
* torch stays a lazy import (``import ecopt.adapters.torch_base`` does not load it):
  the workflow imports adapters to read their hyperparameters before any job runs.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from ecopt.adapters.common import check_device, check_positive_int, check_positive_number, resolve_device
from ecopt.errors import ConfigError
from ecopt.model import Model


class EarlyStopping:
    """Patience-based early stopping on a validation value to minimise (a loss).

    ``step(value, module)`` records one validation check: it improves when
    ``value < best - min_delta`` (``min_delta`` in the value's own units, e.g. nats
    of cross-entropy), which resets the count of stale checks and keeps a deep copy
    of ``module.state_dict()``; otherwise the count grows by one. ``step`` returns
    True once ``max(1, patience)`` checks in a row have been stale: a patience of 0
    behaves as 1, so one check without improvement stops training. To stop on a
    metric to maximise, pass its negative. ``restore_best(module)`` loads the best
    weights back (nothing happens when no check ever improved).

    Raises ``ValueError`` for a negative or non-integer ``patience`` or a negative
    ``min_delta``; adapters check their options first and raise ``ConfigError``.
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        if not min_delta >= 0:  # also refuses NaN
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.best = math.inf
        self.best_state: dict[str, Any] | None = None
        self.stale_checks = 0
        self.checks = 0

    @property
    def should_stop(self) -> bool:
        """True once ``max(1, patience)`` checks in a row have not improved."""
        return self.stale_checks >= max(1, self.patience)

    def step(self, value: float, module: Any) -> bool:
        """Record one validation value (a float to minimise) for ``module`` (a ``torch.nn.Module``); True means stop."""
        self.checks += 1
        if value < self.best - self.min_delta:
            self.best, self.best_state, self.stale_checks = float(value), copy.deepcopy(module.state_dict()), 0
        else:
            self.stale_checks += 1
        return self.should_stop

    def restore_best(self, module: Any) -> None:
        """Load the weights of the best check into ``module``; a no-op when no check improved."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


class TorchModel(Model):
    """Base class of the shipped torch adapters (abstract: subclass it like ``Model``).

    Holds ``device_name`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``; checked, errors
    name ``adapter_options.device``), ``seed`` and the network built by ``define()``
    (``network()`` returns it). Trainers call ``set_training_options`` in their
    constructor and use ``early_stopping()`` and ``mean_over_batches()`` in
    ``train()``; inference-only adapters call ``refuse_training()``.
    """

    def __init__(self, device: str = "auto", seed: int = 0) -> None:
        if type(self) is TorchModel:
            raise NotImplementedError("TorchModel is abstract: subclass it and implement define(), train() and evaluate()")
        super().__init__()
        self.device_name = check_device(device)
        self.seed = seed
        self._network: Any = None
        # One entry per validation check of the last train() ({"epoch" or "step", "train_loss", "validation_loss"}):
        # the trial record keeps it, and MLflow shows it as a curve (ecopt.tracking).
        self.learning_curve: list[dict[str, float]] = []

    @property
    def device(self) -> Any:
        """The ``torch.device`` that ``device_name`` resolves to now (``auto``: the first CUDA device, else the CPU)."""
        return resolve_device(self.device_name)

    def network(self) -> Any:
        """The ``torch.nn.Module`` built by ``define()``, or None before it."""
        return self._network

    def require_network(self) -> Any:
        """The network built by ``define()``; raises ``RuntimeError`` naming ``define()`` when it has not run."""
        if self._network is None:
            raise RuntimeError("define() must run before train() or evaluate()")
        return self._network

    # -- training -------------------------------------------------------------
    def set_training_options(self, learning_rate: Any, patience: Any, min_delta: Any) -> None:
        """Check and store the optimiser step size and the early-stopping options.

        ``learning_rate`` > 0, ``patience`` an integer >= 0 (checks without improvement
        before stopping; 0 acts as 1), ``min_delta`` >= 0 in the validation loss's units.
        Errors are ``ConfigError`` naming ``adapter_options.<key>``.
        """
        check_positive_int("patience", patience, minimum=0)
        self.learning_rate = check_positive_number("learning_rate", learning_rate)
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ConfigError("adapter_options.min_delta", min_delta, "a number >= 0")
        self.patience, self.min_delta = patience, float(min_delta)

    def early_stopping(self) -> EarlyStopping:
        """A fresh ``EarlyStopping`` with this adapter's ``patience`` and ``min_delta``."""
        return EarlyStopping(self.patience, self.min_delta)

    def mean_over_batches(self, count: int, batch_size: int, batch_loss: Callable[[slice], Any]) -> float:
        """Sample-weighted mean of ``batch_loss(batch)`` over ``slice``s of ``batch_size`` covering ``range(count)``.

        Runs with the network in eval mode under ``torch.inference_mode``; ``batch_loss``
        returns the mean loss of its batch (a 0-d tensor or float). Raises ``ValueError``
        when ``count`` is 0 (a mean over nothing).
        """
        import torch

        if count < 1:
            raise ValueError("a mean loss needs at least one sample")
        self.require_network().eval()
        total = 0.0
        with torch.inference_mode():
            for start in range(0, count, batch_size):
                batch = slice(start, min(start + batch_size, count))
                total += float(batch_loss(batch)) * (batch.stop - batch.start)
        return total / count

    # -- inference-only adapters ---------------------------------------------
    def refuse_training(self, reason: str) -> None:
        """Raise the ``ConfigError`` an inference-only adapter gives for ``train()``: set ``trial.skip_train: true``."""
        raise ConfigError("trial.skip_train", False, f"true: {type(self).__name__} {reason}")

    @staticmethod
    def synchronize(device: Any) -> None:
        """Wait for queued CUDA work on ``device`` (a ``torch.device``) so a timed pass includes it; no-op elsewhere."""
        import torch

        if device.type == "cuda":
            torch.cuda.synchronize(device)
