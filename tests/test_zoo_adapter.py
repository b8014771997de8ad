import math

import pytest

from ecopt.adapters.zoo import DEFAULT_ARCHITECTURES, TorchvisionClassifier
from ecopt.cost import count_parameters
from ecopt.errors import ConfigError


def test_default_architectures_all_exist_in_torchvision():
    model = TorchvisionClassifier()
    assert model.hyperparameters["architecture"].values == list(DEFAULT_ARCHITECTURES)


def test_unknown_architecture_names_the_key():
    with pytest.raises(ConfigError, match="adapter_options.architectures"):
        TorchvisionClassifier(architectures=["resnet18", "resnet9000"])


def test_builds_untrained_models_and_counts_images():
    model = TorchvisionClassifier(architectures=["squeezenet1_1", "resnet18"], image_size=32, batch_size=3, device="cpu")
    counts = {}
    for name in ("squeezenet1_1", "resnet18"):
        model.set_hyperparameters({"architecture": name})
        model.define()
        performance, images = model.evaluate()
        assert math.isnan(performance) and images == 3
        counts[name] = count_parameters(model.network())
    assert counts["resnet18"] > 5 * counts["squeezenet1_1"]
