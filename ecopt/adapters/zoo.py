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

from ecopt.adapters.common import check_positive_int
from ecopt.adapters.torch_base import TorchModel
from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, ValueType

# Small to mid-size ImageNet classifiers of distinct families (convolutional,
# depthwise-separable, grouped, attention): wide spreads of parameters and FLOPs.
DEFAULT_ARCHITECTURES = (
    "alexnet",
    "vgg11",
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "densenet121",
    "googlenet",
    "squeezenet1_1",
    "shufflenet_v2_x1_0",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mnasnet1_0",
    "efficientnet_b0",
    "regnet_y_400mf",
    "regnet_x_1_6gf",
    "convnext_tiny",
    "vit_b_32",
    "swin_t",
)


class TorchvisionClassifier(TorchModel):
    """One torchvision classification model, chosen by name; inference on random images.

    ``evaluate()`` returns ``(nan, images processed)``. Bad options raise ``ConfigError``
    naming ``adapter_options.<key>``; ``train()`` always raises (set ``trial.skip_train: true``).
    """

    def __init__(
        self,
        architectures: list[str] | None = None,
        image_size: int = 224,
        batch_size: int = 32,
        num_classes: int = 1000,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        import torchvision

        available = set(torchvision.models.list_models(module=torchvision.models))
        names = list(architectures) if architectures is not None else list(DEFAULT_ARCHITECTURES)
        unknown = [name for name in names if name not in available]
        if not names or unknown:
            raise ConfigError("adapter_options.architectures", architectures, f"torchvision classification model names (unknown: {unknown})")
        for key, value in (("image_size", image_size), ("batch_size", batch_size), ("num_classes", num_classes)):
            check_positive_int(key, value)
        super().__init__(device=device, seed=seed)
        self.image_size, self.eval_batch_size, self.num_classes = image_size, batch_size, num_classes
        self.performance_metric = "none (random weights)"
        self.architecture = Choice(names[0], names, is_ordered=False, value_type=ValueType.STR)
        self._images: Any = None

    def define(self) -> None:
        """Build the chosen architecture untrained (``weights=None``) and a fixed batch of seeded random images (B, 3, S, S)."""
        import torch
        import torchvision

        torch.manual_seed(self.seed)
        network = torchvision.models.get_model(self.architecture.value, weights=None, num_classes=self.num_classes)
        self._network = network.to(self.device).eval()
        generator = torch.Generator().manual_seed(self.seed)
        self._images = torch.randn((self.eval_batch_size, 3, self.image_size, self.image_size), generator=generator).to(self.device)

    def train(self) -> None:
        """Always raises ``ConfigError`` naming ``trial.skip_train``: this adapter measures inference of untrained models."""
        self.refuse_training("measures inference of untrained models")

    def evaluate(self) -> tuple[float, int]:
        """One forward pass over the image batch: ``(nan, batch size)`` (random weights have no performance)."""
        import torch

        network = self.require_network()
        with torch.inference_mode():
            network(self._images)
            self.synchronize(self._images.device)
        return math.nan, int(self._images.shape[0])

    def single_sample_input(self) -> tuple[Any, ...]:
        """One random image, shape (1, 3, image_size, image_size), on the model's device (for FLOP counting)."""
        return (self._images[:1],)
