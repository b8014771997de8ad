"""One contract, every shipped adapter: what ECOpt's trial, calibration and proxy stages rely on."""

from __future__ import annotations

import math

import pytest

from ecopt.cost import count_flops, count_parameters
from ecopt.errors import ConfigError
from ecopt.model import Model


def cnn() -> tuple[Model, dict, bool]:
    from ecopt.adapters.cnn import CNNClassifier

    model = CNNClassifier(data={"dataset": "digits", "max_train_samples": 200}, max_epochs=1)
    return model, {"width": 4, "depth": 1, "kernel_size": 3, "pooling": True}, True


def lm_inference() -> tuple[Model, dict, bool]:
    from ecopt.adapters.transformer import CausalLMInference

    model = CausalLMInference(hidden_size=16, layers=1, heads=2, vocab_size=100, prompt_length=4, new_tokens=2, max_batch_size=8, device="cpu")
    return model, {"batch_size": 3}, False


def lm_trainer() -> tuple[Model, dict, bool]:
    from ecopt.adapters.transformer import CausalLMTrainer

    model = CausalLMTrainer(max_steps=4, eval_interval=2, batch_size=4, validation_tokens=512, test_tokens=512, device="cpu")
    return model, {"hidden_size": 16, "layers": 1, "heads": 2, "context_length": 16}, True


def zoo() -> tuple[Model, dict, bool]:
    from ecopt.adapters.zoo import TorchvisionClassifier

    model = TorchvisionClassifier(architectures=["squeezenet1_1", "resnet18"], image_size=32, batch_size=2, device="cpu")
    return model, {"architecture": "squeezenet1_1"}, False


ADAPTERS = {"cnn": cnn, "lm_inference": lm_inference, "lm_trainer": lm_trainer, "zoo": zoo}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request):
    return ADAPTERS[request.param]()


def test_declares_hyperparameters_that_accept_its_example(adapter):
    model, params, _ = adapter
    assert set(params) <= set(model.hyperparameters)
    model.set_hyperparameters(params)
    assert {name: model.hyperparameters[name].value for name in params} == params
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        model.set_hyperparameters({"no_such_parameter": 1})


def test_define_train_evaluate_and_cost_hooks(adapter):
    import torch

    model, params, trains = adapter
    model.set_hyperparameters(params)
    model.define()
    if trains:
        model.train()
    else:  # inference-only adapters say which setting to use instead of training garbage
        with pytest.raises(ConfigError, match="trial.skip_train"):
            model.train()
    first, second = model.evaluate(), model.evaluate()
    for performance, samples in (first, second):
        assert isinstance(performance, float) and isinstance(samples, int) and samples > 0
    assert first[1] == second[1]  # every pass covers the same samples: the meter repeats passes
    network = model.network()
    assert isinstance(network, torch.nn.Module) and count_parameters(network) > 0
    assert count_flops(network, model.single_sample_input()) > 0
    if not model.performance_varies and not math.isnan(first[0]):
        assert first[0] == second[0]  # scores are deterministic unless the adapter says otherwise


def test_evaluate_before_define_is_a_clear_error(adapter):
    model, params, _ = adapter
    model.set_hyperparameters(params)
    with pytest.raises(RuntimeError, match="define"):
        model.evaluate()
