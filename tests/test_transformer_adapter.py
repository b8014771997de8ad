import numpy as np
import pytest

from ecopt.adapters.transformer import CausalLMInference, CausalLMTrainer, build_causal_lm
from ecopt.errors import ConfigError, InfeasibleArchitecture


def test_heads_must_divide_the_hidden_size():
    with pytest.raises(InfeasibleArchitecture, match="not divisible by 3"):
        build_causal_lm(hidden_size=32, layers=1, heads=3, context_length=16, vocab_size=50)
    model = build_causal_lm(hidden_size=32, layers=2, heads=4, context_length=16, vocab_size=50)
    assert model.config.n_layer == 2 and model.config.vocab_size == 50


@pytest.mark.parametrize("new_tokens", [0, 3])
def test_one_pass_is_one_batch_of_prefill_and_decoding_tokens(new_tokens):
    model = CausalLMInference(hidden_size=16, layers=1, heads=2, vocab_size=100, prompt_length=5, new_tokens=new_tokens, max_batch_size=16, device="cpu")
    for batch in (1, 7):
        model.set_hyperparameters({"batch_size": batch})
        model.define()
        latency, tokens = model.evaluate()
        assert tokens == batch * (5 + new_tokens) and latency > 0
    with pytest.raises(ValueError, match="batch_size"):
        model.set_hyperparameters({"batch_size": 17})  # above max_batch_size


@pytest.mark.parametrize(
    "options, key",
    [
        ({"dtype": "float64"}, "adapter_options.dtype"),
        ({"max_batch_size": 0}, "adapter_options.max_batch_size"),
        ({"new_tokens": -1}, "adapter_options.new_tokens"),
        ({"device": "tpu"}, "adapter_options.device"),
    ],
)
def test_bad_inference_options_name_the_key(options, key):
    with pytest.raises(ConfigError, match=key):
        CausalLMInference(**options)


def test_trainer_needs_a_token_stream_dataset():
    with pytest.raises(ConfigError, match="data.dataset"):
        CausalLMTrainer(data={"dataset": "digits"})


def test_trainer_learns_more_than_byte_frequencies_from_the_bundled_corpus():
    model = CausalLMTrainer(max_steps=150, eval_interval=50, batch_size=16, validation_tokens=4096, test_tokens=8192, device="cpu")
    model.set_hyperparameters({"hidden_size": 64, "layers": 2, "heads": 2, "context_length": 32})
    model.define()
    model.train()
    accuracy, tokens = model.evaluate()
    windows = model._test_windows.cpu().numpy()
    targets = windows[:, 1:].ravel()
    unigram = np.bincount(targets, minlength=256).max() / len(targets)  # always guessing the commonest byte
    assert tokens == len(targets)
    assert accuracy > unigram + 0.05, (accuracy, unigram)
    assert model.steps_trained > 0 and np.isfinite(model.best_validation_loss)


def test_trainer_rungs_are_steps_and_a_dominated_rung_stops_it():
    from ecopt.early_stopping import RungHistory, RungMonitor

    model = CausalLMTrainer(max_steps=6, eval_interval=2, batch_size=4, validation_tokens=512, test_tokens=512, device="cpu")
    model.set_hyperparameters({"hidden_size": 16, "layers": 1, "heads": 2, "context_length": 16})
    assert model.efficiency_independent_of_weights and model.max_resource == 6
    model.define()
    perfect = [[1.0, 1e9]] * 3
    history = RungHistory(["performance", "samples_per_joule"], [True, True], {2: perfect})
    settings = {"reduction_factor": 3, "min_resource": 2, "min_points_at_rung": 3}
    model.rung_monitor = RungMonitor(history, settings, {"samples_per_joule": 1.0}, model.max_resource)
    model.train()
    assert model.steps_trained == 2 and model.stopped_at_resource == 2
    (point,) = model.learning_curve
    assert point["step"] == 2 and 0 <= point["performance"] <= 1 and point["train_seconds"] > 0
