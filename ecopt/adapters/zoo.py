"""torchvision's classification architectures with random weights, for the model-zoo proxy study.

Inference cost does not depend on the weights or on the pixel values, so each
architecture is built untrained (``weights=None``, no download) and run on a
fixed batch of seeded random images at ``image_size``. ``evaluate()`` has no
labels to score: it reports ``nan`` performance and the images it processed.
Used by the proxies stage (``stages: [proxies]``): parameters and FLOPs vs
measured joules per image across very different architectures.
"""

from __future__ import annotations

import math
from typing import Any

from ecopt.adapters.common import check_device, check_positive_int, resolve_device
from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, ValueType
from ecopt.model import Model

# Small to mid-size ImageNet classifiers of distinct families (convolutional,
# depthwise-separable, grouped, attention): wide spreads of parameters and FLOPs.
DEFAULT_ARCHITECTURES = (
    "alexnet", "vgg11", "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "densenet121",
    "googlenet", "squeezenet1_1", "shufflenet_v2_x1_0", "mobilenet_v2", "mobilenet_v3_small",
    "mobilenet_v3_large", "mnasnet1_0", "efficientnet_b0", "regnet_y_400mf", "regnet_x_1_6gf",
    "convnext_tiny", "vit_b_32", "swin_t",
)


class TorchvisionClassifier(Model):
    """One torchvision classification model, chosen by name; inference on random images."""

    def __init__(
        self,
        architectures: list[str] | None = None,
        image_size: int = 224,
        batch_size: int = 32,
        num_classes: int = 1000,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__()
        import torchvision

        available = set(torchvision.models.list_models(module=torchvision.models))
        names = list(architectures) if architectures is not None else list(DEFAULT_ARCHITECTURES)
        unknown = [name for name in names if name not in available]
        if not names or unknown:
            raise ConfigError("adapter_options.architectures", architectures, f"torchvision classification model names (unknown: {unknown})")
        for key, value in (("image_size", image_size), ("batch_size", batch_size), ("num_classes", num_classes)):
            check_positive_int(key, value)
        check_device(device)
        self.image_size, self.eval_batch_size, self.num_classes = image_size, batch_size, num_classes
        self.device_name, self.seed = device, seed
        self.performance_metric = "none (random weights)"
        self.architecture = Choice(names[0], names, is_ordered=False, value_type=ValueType.STR)
        self._network: Any = None
        self._images: Any = None

    @property
    def device(self) -> Any:
        return resolve_device(self.device_name)

    def define(self) -> None:
        import torch
        import torchvision

        torch.manual_seed(self.seed)
        network = torchvision.models.get_model(self.architecture.value, weights=None, num_classes=self.num_classes)
        self._network = network.to(self.device).eval()
        generator = torch.Generator().manual_seed(self.seed)
        self._images = torch.randn((self.eval_batch_size, 3, self.image_size, self.image_size), generator=generator).to(self.device)

    def train(self) -> None:
        raise ConfigError("trial.skip_train", False, "true: TorchvisionClassifier measures inference of untrained models")

    def evaluate(self) -> tuple[float, int]:
        import torch

        if self._network is None:
            raise RuntimeError("define() must run before evaluate()")
        with torch.inference_mode():
            self._network(self._images)
            if self._images.device.type == "cuda":
                torch.cuda.synchronize(self._images.device)
        return math.nan, int(self._images.shape[0])

    def network(self) -> Any:
        return self._network

    def single_sample_input(self) -> tuple[Any, ...]:
        return (self._images[:1],)
