"""One contract, every shipped adapter: ``ecopt.testing``'s checks, and that they catch broken adapters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ecopt import testing
from ecopt.hyperparameter import Range, ValueType
from ecopt.model import Model


def cnn() -> tuple[Callable[[], Model], dict]:
    from ecopt.adapters.cnn import CNNClassifier

    return lambda: CNNClassifier(data={"dataset": "digits", "max_train_samples": 200}, max_epochs=1), {
        "width": 4,
        "depth": 1,
        "kernel_size": 3,
        "pooling": True,
    }


def lm_inference() -> tuple[Callable[[], Model], dict]:
    from ecopt.adapters.transformer import CausalLMInference

    options = {"hidden_size": 16, "layers": 1, "heads": 2, "vocab_size": 100, "prompt_length": 4, "new_tokens": 2, "max_batch_size": 8, "device": "cpu"}
    return lambda: CausalLMInference(**options), {"batch_size": 3}


def lm_trainer() -> tuple[Callable[[], Model], dict]:
    from ecopt.adapters.transformer import CausalLMTrainer

    options = {"max_steps": 4, "eval_interval": 2, "batch_size": 4, "validation_tokens": 512, "test_tokens": 512, "device": "cpu"}
    return lambda: CausalLMTrainer(**options), {"hidden_size": 16, "layers": 1, "heads": 2, "context_length": 16}


def zoo() -> tuple[Callable[[], Model], dict]:
    from ecopt.adapters.zoo import TorchvisionClassifier

    return lambda: TorchvisionClassifier(architectures=["squeezenet1_1", "resnet18"], image_size=32, batch_size=2, device="cpu"), {
        "architecture": "squeezenet1_1"
    }


ADAPTERS = {"cnn": cnn, "lm_inference": lm_inference, "lm_trainer": lm_trainer, "zoo": zoo}


@pytest.mark.parametrize("check", testing.CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_shipped_adapter_keeps_the_contract(name, check):
    factory, params = ADAPTERS[name]()
    if check is testing.check_define_train_evaluate:
        check(factory, params, require_cost_hooks=True)  # every shipped adapter reports parameters and FLOPs
    else:
        check(factory, params)


def test_check_adapter_builds_a_class_from_its_options():
    from ecopt.adapters.transformer import CausalLMInference

    options = {"hidden_size": 16, "layers": 1, "heads": 2, "vocab_size": 50, "prompt_length": 3, "new_tokens": 0, "max_batch_size": 4, "device": "cpu"}
    assert testing.check_adapter(CausalLMInference, options) == [check.__name__ for check in testing.CHECKS]
    with pytest.raises(TypeError):
        testing.check_adapter(lambda: CausalLMInference(**options), options)


# -- the checks fail on adapters that break a promise ----------------------------
class Counter(Model):
    """A torch-free adapter that keeps the contract; subclasses below break one promise each."""

    size = Range(2, 1, 8, value_type=ValueType.INT)

    def __init__(self) -> None:
        super().__init__()
        self.defined = False

    def define(self) -> None:
        self.defined = True

    def train(self) -> None:
        pass

    def evaluate(self) -> tuple[float, int]:
        self.require_defined()
        return 0.5, self.size.value

    def require_defined(self) -> None:
        if not self.defined:
            raise RuntimeError("define() must run first")


class DriftingSamples(Counter):
    def evaluate(self) -> tuple[float, int]:
        self.require_defined()
        self.size.value = self.size.value % 8 + 1  # each pass covers a different number of samples
        return 0.5, self.size.value


class NoisyScore(Counter):
    passes = 0

    def evaluate(self) -> tuple[float, int]:
        self.require_defined()
        self.passes += 1
        return 0.5 + self.passes, 4


class IntegerScore(Counter):
    def evaluate(self) -> tuple[Any, int]:
        return 1, 4


class CrashesBeforeDefine(Counter):
    network_module: Any = None

    def define(self) -> None:
        self.network_module = self.size

    def evaluate(self) -> tuple[float, int]:
        return float(self.network_module.value), 4  # before define(): AttributeError on None


class WrongTrainingKey(Counter):
    def train(self) -> None:
        from ecopt.errors import ConfigError

        raise ConfigError("trial.epochs", 1, "anything")


def test_a_keeping_adapter_passes_without_torch_hooks():
    assert testing.check_adapter(Counter) == [check.__name__ for check in testing.CHECKS]
    with pytest.raises(testing.AdapterContractError, match="network"):
        testing.check_define_train_evaluate(Counter, require_cost_hooks=True)


@pytest.mark.parametrize(
    "adapter, params, message",
    [
        (Counter, {"depth": 3}, "does not declare"),
        (Counter, {"size": 99}, "refuses its own example"),
        (DriftingSamples, None, "samples"),
        (NoisyScore, None, "performance_varies"),
        (IntegerScore, None, "expected float"),
        (CrashesBeforeDefine, None, "AttributeError"),
        (WrongTrainingKey, None, "trial.skip_train"),
    ],
)
def test_each_broken_promise_is_reported(adapter, params, message):
    with pytest.raises(testing.AdapterContractError, match=message):
        testing.check_adapter(adapter, params=params)


def test_a_varying_score_is_fine_when_declared():
    class Latency(NoisyScore):
        performance_varies = True

    testing.check_adapter(Latency)
