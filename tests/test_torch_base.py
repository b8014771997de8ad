import math

import pytest

from ecopt.adapters.torch_base import EarlyStopping, TorchModel
from ecopt.errors import ConfigError


class Linear(TorchModel):
    def define(self) -> None:
        import torch

        torch.manual_seed(self.seed)
        self._network = torch.nn.Linear(2, 1)

    def train(self) -> None:
        self.refuse_training("is a test double")

    def evaluate(self) -> tuple[float, int]:
        self.require_network()
        return 0.0, 1


def test_stops_after_patience_stale_checks_and_restores_the_best_weights():
    import torch

    module = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(patience=2, min_delta=0.01)
    stops = []
    for value in (1.0, 0.995, 0.5, 0.6, 0.7, 0.1):  # 0.995 is within min_delta of 1.0: stale
        with torch.no_grad():
            module.weight.fill_(value)
        stops.append(stopper.step(value, module))
        if stops[-1]:
            break
    assert stops == [False, False, False, False, True]  # checks 4 and 5 were stale after the best (0.5)
    assert stopper.best == 0.5 and stopper.checks == 5
    stopper.restore_best(module)
    assert module.weight.item() == 0.5


def test_patience_zero_acts_as_one_and_nan_never_improves():
    import torch

    module = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(patience=0)
    assert not stopper.step(2.0, module)
    assert stopper.step(math.nan, module) and stopper.best == 2.0
    never = EarlyStopping(patience=3)
    for _ in range(3):
        never.step(math.nan, module)
    assert never.should_stop and never.best_state is None
    never.restore_best(module)  # nothing to restore: no error


@pytest.mark.parametrize("patience, min_delta", [(-1, 0.0), (1.5, 0.0), (True, 0.0), (1, -0.1), (1, math.nan)])
def test_bad_early_stopping_settings_are_refused(patience, min_delta):
    with pytest.raises(ValueError):
        EarlyStopping(patience, min_delta)


@pytest.mark.parametrize(
    "options, key",
    [
        ({"learning_rate": 0}, "adapter_options.learning_rate"),
        ({"patience": -1}, "adapter_options.patience"),
        ({"min_delta": -0.5}, "adapter_options.min_delta"),
        ({"min_delta": "0.1"}, "adapter_options.min_delta"),
    ],
)
def test_training_options_name_the_key(options, key):
    model = Linear(device="cpu")
    settings = {"learning_rate": 0.001, "patience": 3, "min_delta": 0.0} | options
    with pytest.raises(ConfigError) as caught:
        model.set_training_options(**settings)
    assert caught.value.key == key


def test_torch_model_is_abstract_and_guards_define():
    with pytest.raises(NotImplementedError):
        TorchModel()
    with pytest.raises(ConfigError, match="adapter_options.device"):
        Linear(device="tpu")
    model = Linear(device="cpu")
    assert model.network() is None
    with pytest.raises(RuntimeError, match="define"):
        model.evaluate()
    with pytest.raises(ConfigError, match="trial.skip_train"):
        model.train()


def test_mean_over_batches_weights_each_batch_by_its_size():
    import torch

    model = Linear(device="cpu")
    model.define()
    values = torch.arange(7, dtype=torch.float32)
    seen = []

    def batch_mean(batch: slice) -> torch.Tensor:
        seen.append((batch.start, batch.stop))
        assert not torch.is_grad_enabled()  # runs under inference mode
        return values[batch].mean()

    assert model.mean_over_batches(7, 3, batch_mean) == pytest.approx(3.0)  # the plain mean, despite a short last batch
    assert seen == [(0, 3), (3, 6), (6, 7)]
    assert not model.network().training
    with pytest.raises(ValueError):
        model.mean_over_batches(0, 3, batch_mean)
