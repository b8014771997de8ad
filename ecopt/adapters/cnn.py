"""The paper's CNN search: width, depth, kernel size, stride, padding, pooling.

``depth`` blocks of Conv2d -> ReLU (-> 2x2 max-pool), then a linear classifier.
Trained with Adam (lr 0.001, batch 64) and early stopping on validation loss, as
in the paper. Architectures that cannot exist for the input (a feature map that
shrinks below 1x1) raise ``InfeasibleArchitecture`` from ``define()``; the trial
records them as failed with that reason.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any, Mapping

import numpy as np

from ecopt.adapters.common import check_device, check_positive_int, check_positive_number, load_or_build_splits, resolve_device
from ecopt.data import DatasetSplits
from ecopt.errors import ConfigError, InfeasibleArchitecture
from ecopt.hyperparameter import Choice, Range, ValueType
from ecopt.metrics import PERFORMANCE_METRICS, performance_function
from ecopt.model import Model
from ecopt.settings import validate_section

logger = logging.getLogger(__name__)


def feature_map_sizes(input_size: int, depth: int, kernel_size: int, stride: int, padding: str, pooling: bool) -> list[int]:
    """Side length after each block; raises if the map would vanish."""
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


class CNNClassifier(Model):
    """Image classifier over ``ecopt.data`` splits (digits, MNIST, Fashion-MNIST, CIFAR-10)."""

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
        super().__init__()
        if performance_metric not in PERFORMANCE_METRICS:
            raise ConfigError("adapter_options.performance_metric", performance_metric, f"one of {list(PERFORMANCE_METRICS)}")
        for name, value in (("batch_size", batch_size), ("max_epochs", max_epochs), ("eval_batch_size", eval_batch_size)):
            check_positive_int(name, value)
        check_positive_int("patience", patience, minimum=0)
        check_positive_number("learning_rate", learning_rate)
        check_device(device)
        self.data_config = validate_section("data", data)  # a DataSettings, or a mapping validated as one
        self.splits_dir = splits_dir
        self.performance_metric = performance_metric
        self.learning_rate = float(learning_rate)
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_delta = float(min_delta)
        self.eval_batch_size = eval_batch_size
        self.device_name = device
        self.seed = seed

        self.width = Range(32, 1, 128, log_scale=True, value_type=ValueType.INT)
        self.depth = Range(2, 1, 6, value_type=ValueType.INT)
        self.kernel_size = Choice(3, [1, 3, 5, 7, 9], value_type=ValueType.INT)
        self.stride = Choice(1, [1, 2], value_type=ValueType.INT)
        self.padding = Choice("same", ["same", "valid"], is_ordered=False, value_type=ValueType.STR)
        self.pooling = Choice(False, [False, True], value_type=ValueType.BOOL)

        self._splits: DatasetSplits | None = None
        self._network: Any = None
        self._test_tensor: Any = None
        self.epochs_trained = 0
        self.best_validation_loss = math.nan

    # -- data -------------------------------------------------------------
    @property
    def splits(self) -> DatasetSplits:
        if self._splits is None:
            self._splits = load_or_build_splits(self.splits_dir, self.data_config)
        return self._splits

    @property
    def device(self) -> Any:
        return resolve_device(self.device_name)

    # -- the Model interface ---------------------------------------------
    def define(self) -> None:
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
        import torch
        from torch import nn

        network, device, splits = self._require_network(), self.device, self.splits
        x_train = torch.from_numpy(splits.x_train).to(device)
        y_train = torch.from_numpy(splits.y_train).to(device)
        x_val = torch.from_numpy(splits.x_val).to(device)
        y_val = torch.from_numpy(splits.y_val).to(device)
        optimiser = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        loss_function = nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(self.seed)
        best_loss, best_state, epochs_without_improvement = math.inf, None, 0
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
            validation_loss = self._loss(x_val, y_val, loss_function)
            improved = validation_loss < best_loss - self.min_delta
            if improved:
                best_loss, best_state, epochs_without_improvement = validation_loss, copy.deepcopy(network.state_dict()), 0
            else:
                epochs_without_improvement += 1
            stopping = epochs_without_improvement >= max(1, self.patience)
            if epoch == 1 or epoch % report_every == 0 or stopping or epoch == self.max_epochs:
                logger.info(
                    "epoch %d/%d: train loss %.4f, validation loss %.4f (best %.4f)%s",
                    epoch, self.max_epochs, total_loss / len(order), validation_loss, best_loss,
                    " - early stop" if stopping else "",
                )
            self.epochs_trained = epoch
            if stopping:
                break
        if best_state is not None:
            network.load_state_dict(best_state)
        self.best_validation_loss = best_loss

    def evaluate(self) -> tuple[float, int]:
        import torch

        network, splits = self._require_network(), self.splits
        network.eval()
        inputs = self._test_inputs()
        predictions = []
        with torch.inference_mode():
            for start in range(0, len(inputs), self.eval_batch_size):
                predictions.append(network(inputs[start : start + self.eval_batch_size]).argmax(dim=1))
        predicted = torch.cat(predictions).cpu().numpy()
        return performance_function(self.performance_metric)(splits.y_test, predicted), int(len(predicted))

    def network(self) -> Any:
        return self._network

    def single_sample_input(self) -> tuple[Any, ...]:
        return (self._test_inputs()[:1],)

    # -- helpers ------------------------------------------------------------
    def _require_network(self) -> Any:
        if self._network is None:
            raise RuntimeError("define() must run before train() or evaluate()")
        return self._network

    def _test_inputs(self) -> Any:
        # Moved to the device once, outside the metered evaluation passes.
        import torch

        if self._test_tensor is None:
            self._test_tensor = torch.from_numpy(np.ascontiguousarray(self.splits.x_test)).to(self.device)
        return self._test_tensor

    def _loss(self, inputs: Any, labels: Any, loss_function: Any) -> float:
        import torch

        network = self._require_network()
        network.eval()
        total = 0.0
        with torch.inference_mode():
            for start in range(0, len(labels), self.eval_batch_size):
                batch = slice(start, start + self.eval_batch_size)
                total += float(loss_function(network(inputs[batch]), labels[batch])) * len(labels[batch])
        return total / len(labels)
