"""The paper's CNN search: width, depth, kernel size, stride, padding, pooling.

``depth`` blocks of Conv2d -> ReLU (-> 2x2 max-pool), then a linear classifier.
Trained with Adam (lr 0.001, batch 64) and early stopping on validation loss, as
in the paper (the rule is ``ecopt.adapters.torch_base.EarlyStopping``'s). Architectures that cannot exist for the input (a feature map that
shrinks below 1x1) raise ``InfeasibleArchitecture`` from ``define()``; the trial
records them as failed with that reason.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ecopt.adapters.common import check_positive_int, load_or_build_splits
from ecopt.adapters.torch_base import TorchModel
from ecopt.data import DatasetSplits
from ecopt.errors import ConfigError, InfeasibleArchitecture
from ecopt.hyperparameter import Choice, Range, ValueType
from ecopt.metrics import PERFORMANCE_METRICS, performance_function
from ecopt.settings import validate_section

logger = logging.getLogger(__name__)


def feature_map_sizes(input_size: int, depth: int, kernel_size: int, stride: int, padding: str, pooling: bool) -> list[int]:
    """Side length (pixels) of the square feature map after each of ``depth`` blocks, for a square input of ``input_size``.

    Raises ``InfeasibleArchitecture`` naming the layer when a convolution does not fit
    or 2x2 max-pooling would leave nothing.
    """
    pad = kernel_size // 2 if padding == "same" else 0
    sizes, size = [], input_size
    for layer in range(1, depth + 1):
        convolved = (size + 2 * pad - kernel_size) // stride + 1
        if convolved < 1:
            raise InfeasibleArchitecture(
                f"layer {layer}: a {kernel_size}x{kernel_size} convolution (stride {stride}, padding {padding}) "
                f"does not fit a {size}x{size} feature map (input {input_size}x{input_size}, depth {depth})"
            )
        size = convolved
        if pooling:
            if size < 2:
                raise InfeasibleArchitecture(
                    f"layer {layer}: 2x2 max-pooling a {size}x{size} feature map leaves nothing "
                    f"(input {input_size}x{input_size}, depth {depth}, stride {stride}, padding {padding})"
                )
            size //= 2
        sizes.append(size)
    return sizes


class CNNClassifier(TorchModel):
    """Image classifier over ``ecopt.data`` splits (digits, MNIST, Fashion-MNIST, CIFAR-10).

    Constructor arguments are the study's ``adapter_options`` (``data`` and
    ``splits_dir`` come from the workflow); bad values raise ``ConfigError`` naming
    ``adapter_options.<key>``. ``evaluate()`` returns ``(performance, test images)``
    with performance in [0, 1] (accuracy or weighted F1, ``ecopt.metrics``).

    ``efficiency_independent_of_weights``: a forward pass of a fixed architecture
    does the same arithmetic whatever the weights (no data-dependent control flow),
    so its samples/J can be measured before training (multi-objective early
    stopping, ``ecopt.early_stopping``); ``ecopt.trial``'s docstring gives the measurement.
    """

    efficiency_independent_of_weights = True

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        splits_dir: str | None = None,
        performance_metric: str = "accuracy",
        learning_rate: float = 0.001,
        batch_size: int = 64,
        max_epochs: int = 50,
        patience: int = 3,
        min_delta: float = 0.001,
        eval_batch_size: int = 256,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        if performance_metric not in PERFORMANCE_METRICS:
            raise ConfigError("adapter_options.performance_metric", performance_metric, f"one of {list(PERFORMANCE_METRICS)}")
        for name, value in (("batch_size", batch_size), ("max_epochs", max_epochs), ("eval_batch_size", eval_batch_size)):
            check_positive_int(name, value)
        super().__init__(device=device, seed=seed)
        self.set_training_options(learning_rate, patience, min_delta)
        self.data_config = validate_section("data", data)  # a DataSettings, or a mapping validated as one
        self.splits_dir = splits_dir
        self.performance_metric = performance_metric
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.max_resource = max_epochs  # rungs are epochs
        self.eval_batch_size = eval_batch_size

        self.width = Range(32, 1, 128, log_scale=True, value_type=ValueType.INT)
        self.depth = Range(2, 1, 6, value_type=ValueType.INT)
        self.kernel_size = Choice(3, [1, 3, 5, 7, 9], value_type=ValueType.INT)
        self.stride = Choice(1, [1, 2], value_type=ValueType.INT)
        self.padding = Choice("same", ["same", "valid"], is_ordered=False, value_type=ValueType.STR)
        self.pooling = Choice(False, [False, True], value_type=ValueType.BOOL)

        self._splits: DatasetSplits | None = None
        self._test_tensor: Any = None
        self.epochs_trained = 0
        self.best_validation_loss = math.nan

    # -- data -------------------------------------------------------------
    @property
    def splits(self) -> DatasetSplits:
        """The prepared splits (loaded once): images (N, C, H, W) float32, labels (N,) int64."""
        if self._splits is None:
            self._splits = load_or_build_splits(self.splits_dir, self.data_config)
        return self._splits

    # -- the Model interface ---------------------------------------------
    def define(self) -> None:
        """Build the network for the current hyperparameters; ``InfeasibleArchitecture`` when the feature map would vanish."""
        import torch
        from torch import nn

        channels, height, width = self.splits.input_shape
        if height != width:
            raise InfeasibleArchitecture(f"CNNClassifier expects square images, got {height}x{width}")
        sizes = feature_map_sizes(height, self.depth.value, self.kernel_size.value, self.stride.value, self.padding.value, self.pooling.value)
        torch.manual_seed(self.seed)
        pad = self.kernel_size.value // 2 if self.padding.value == "same" else 0
        layers: list[Any] = []
        in_channels = channels
        for _ in range(self.depth.value):
            layers += [nn.Conv2d(in_channels, self.width.value, self.kernel_size.value, stride=self.stride.value, padding=pad), nn.ReLU()]
            if self.pooling.value:
                layers.append(nn.MaxPool2d(2))
            in_channels = self.width.value
        layers += [nn.Flatten(), nn.Linear(self.width.value * sizes[-1] ** 2, self.splits.num_classes)]
        self._network = nn.Sequential(*layers).to(self.device)

    def train(self) -> None:
        """Adam on shuffled mini-batches, one validation check per epoch, best weights restored.

        Each check reports the validation loss to the patience rule (``EarlyStopping``)
        and the validation accuracy (or F1, ``performance_metric``) to ``report_rung``;
        either may stop training. A rung stop sets ``stopped_at_resource`` to the epoch.
        """
        import torch
        from torch import nn

        started = time.perf_counter()
        network, device, splits = self.require_network(), self.device, self.splits
        x_train = torch.from_numpy(splits.x_train).to(device)
        y_train = torch.from_numpy(splits.y_train).to(device)
        x_val = torch.from_numpy(splits.x_val).to(device)
        y_val = torch.from_numpy(splits.y_val).to(device)
        optimiser = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        loss_function = nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(self.seed)
        stopper = self.early_stopping()
        self.learning_curve = []
        # Progress every ~10 % of the epoch budget, not every epoch: logs stay short.
        report_every = max(1, self.max_epochs // 10)
        for epoch in range(1, self.max_epochs + 1):
            network.train()
            order = torch.randperm(len(y_train), generator=generator).to(device)
            total_loss = 0.0
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                optimiser.zero_grad(set_to_none=True)
                loss = loss_function(network(x_train[batch]), y_train[batch])
                loss.backward()
                optimiser.step()
                total_loss += loss.detach().item() * len(batch)
            validation_loss, validation_performance = self._validate(loss_function, x_val, y_val)
            stopping = stopper.step(validation_loss, network)
            seconds = time.perf_counter() - started
            train_loss = total_loss / len(order)
            curve_point = {"epoch": epoch, "train_loss": train_loss, "validation_loss": validation_loss, "train_seconds": seconds}
            rung_stop = self.report_rung(epoch, validation_performance, **curve_point)
            if epoch == 1 or epoch % report_every == 0 or stopping or rung_stop or epoch == self.max_epochs:
                logger.info(
                    "epoch %d/%d: train loss %.4f, validation loss %.4f (best %.4f), validation %s %.4f%s",
                    epoch,
                    self.max_epochs,
                    train_loss,
                    validation_loss,
                    stopper.best,
                    self.performance_metric,
                    validation_performance,
                    " - early stop (patience)" if stopping else " - early stop (rung)" if rung_stop else "",
                )
            self.epochs_trained = epoch
            if rung_stop:
                self.stopped_at_resource = epoch
            if stopping or rung_stop:
                break
        stopper.restore_best(network)
        self.best_validation_loss = stopper.best

    def _validate(self, loss_function: Any, x_val: Any, y_val: Any) -> tuple[float, float]:
        """One pass over the validation split: (sample-weighted mean cross-entropy, accuracy or weighted F1 in [0, 1])."""
        import torch

        network, predictions = self.require_network(), []

        def batch_loss(batch: slice) -> Any:
            logits = network(x_val[batch])
            predictions.append(logits.argmax(dim=1))  # the same pass scores the predictions
            return loss_function(logits, y_val[batch])

        loss = self.mean_over_batches(len(y_val), self.eval_batch_size, batch_loss)
        predicted = torch.cat(predictions).cpu().numpy()
        return loss, performance_function(self.performance_metric)(self.splits.y_val, predicted)

    def evaluate(self) -> tuple[float, int]:
        """One pass over the test split: ``(accuracy or weighted F1 in [0, 1], number of test images)``."""
        import torch

        network, splits = self.require_network(), self.splits
        network.eval()
        inputs = self._test_inputs()
        predictions = []
        with torch.inference_mode():
            for start in range(0, len(inputs), self.eval_batch_size):
                predictions.append(network(inputs[start : start + self.eval_batch_size]).argmax(dim=1))
        predicted = torch.cat(predictions).cpu().numpy()
        return performance_function(self.performance_metric)(splits.y_test, predicted), int(len(predicted))

    def single_sample_input(self) -> tuple[Any, ...]:
        """One test image, shape (1, C, H, W), on the model's device (for FLOP counting)."""
        return (self._test_inputs()[:1],)

    # -- helpers ------------------------------------------------------------
    def _test_inputs(self) -> Any:
        # Moved to the device once, outside the metered evaluation passes.
        import torch

        if self._test_tensor is None:
            self._test_tensor = torch.from_numpy(np.ascontiguousarray(self.splits.x_test)).to(self.device)
        return self._test_tensor
