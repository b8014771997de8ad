"""Causal transformer language models: inference batch size, and model size.

Two adapters over Hugging Face ``transformers``:

* ``CausalLMInference`` — the paper's batch-size study. One evaluation pass runs
  one batch of ``batch_size`` prompts through the model (prefill, plus greedy
  decoding of ``new_tokens`` with the KV cache when ``new_tokens > 0``); the meter
  repeats passes to fill its window, so samples/J is tokens/J. Performance is the
  latency of one batch in seconds (minimise it): the price a server pays for the
  throughput of large batches. Training is skipped (``trial.skip_train: true``).
* ``CausalLMTrainer`` — the size-scaling study. A GPT-2-style model of the searched
  hidden size, layers, heads and context length is trained from scratch on the
  bundled Python-documentation corpus (``data.dataset: python_docs``, byte tokens)
  with AdamW and early stopping; performance is next-token accuracy on held-out
  documents, efficiency tokens/J of that evaluation.

Both build the model from a config with random weights (no download). A user may
name a hub model or local checkpoint in ``model_name`` for the inference study;
then that model's weights and tokenizer vocabulary size are used.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from typing import Any, Mapping

import numpy as np

from ecopt.adapters.common import check_device, check_positive_int, check_positive_number, load_or_build_splits, resolve_device
from ecopt.errors import ConfigError, InfeasibleArchitecture
from ecopt.hyperparameter import Range, ValueType
from ecopt.model import Model

logger = logging.getLogger(__name__)


def build_causal_lm(hidden_size: int, layers: int, heads: int, context_length: int, vocab_size: int, seed: int = 0) -> Any:
    """A GPT-2-architecture causal LM with random weights, built from a config (no download)."""
    if hidden_size % heads:
        raise InfeasibleArchitecture(f"hidden size {hidden_size} is not divisible by {heads} attention heads")
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size, n_positions=context_length, n_embd=hidden_size, n_layer=layers, n_head=heads,
        n_inner=4 * hidden_size, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=0, eos_token_id=0,
    )
    return GPT2LMHeadModel(config)


class CausalLMInference(Model):
    """Inference efficiency of a causal LM against batch size (tokens/J vs batch latency)."""

    performance_varies = True  # latency: the trial records the median pass, and the spread

    def __init__(
        self,
        model_name: str | None = None,
        hidden_size: int = 256,
        layers: int = 4,
        heads: int = 4,
        vocab_size: int = 32000,
        prompt_length: int = 64,
        new_tokens: int = 16,
        max_batch_size: int = 256,
        dtype: str = "float32",
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__()
        for key, value in (("hidden_size", hidden_size), ("layers", layers), ("heads", heads), ("vocab_size", vocab_size),
                           ("prompt_length", prompt_length), ("max_batch_size", max_batch_size)):
            check_positive_int(key, value)
        check_positive_int("new_tokens", new_tokens, minimum=0)
        if dtype not in ("float32", "float16", "bfloat16"):
            raise ConfigError("adapter_options.dtype", dtype, "'float32', 'float16' or 'bfloat16'")
        self.model_name = model_name
        self.hidden_size, self.layers, self.heads, self.vocab_size = hidden_size, layers, heads, vocab_size
        self.prompt_length, self.new_tokens = prompt_length, new_tokens
        self.dtype_name, self.device_name, self.seed = dtype, check_device(device), seed
        self.performance_metric = "batch_latency_seconds"
        self.batch_size = Range(1, 1, max_batch_size, log_scale=True, value_type=ValueType.INT)
        self._network: Any = None
        self._prompts: Any = None

    @property
    def tokens_per_sequence(self) -> int:
        # Prefill scores every prompt token; each decoding step adds one per sequence.
        return self.prompt_length + self.new_tokens

    def define(self) -> None:
        import torch

        device, dtype = resolve_device(self.device_name), getattr(torch, self.dtype_name)
        if self.model_name:
            from transformers import AutoModelForCausalLM

            network = AutoModelForCausalLM.from_pretrained(self.model_name, torch_dtype=dtype)
            vocab_size = int(network.config.vocab_size)
        else:
            network = build_causal_lm(self.hidden_size, self.layers, self.heads, self.prompt_length + self.new_tokens, self.vocab_size, self.seed)
            vocab_size = self.vocab_size
        self._network = network.to(device=device, dtype=dtype).eval()
        generator = torch.Generator().manual_seed(self.seed)
        # Fixed random prompts: inference cost does not depend on which tokens they are.
        self._prompts = torch.randint(1, vocab_size, (self.batch_size.value, self.prompt_length), generator=generator).to(device)

    def train(self) -> None:
        raise ConfigError("trial.skip_train", False, "true: CausalLMInference measures inference only")

    def evaluate(self) -> tuple[float, int]:
        import torch

        network, prompts = self._require(), self._prompts
        started = time.perf_counter()
        with torch.inference_mode():
            if self.new_tokens == 0:
                network(input_ids=prompts)
            else:
                attention = torch.ones_like(prompts)
                network.generate(
                    input_ids=prompts, attention_mask=attention, max_new_tokens=self.new_tokens, min_new_tokens=self.new_tokens,
                    do_sample=False, use_cache=True, pad_token_id=0,
                )
            if prompts.device.type == "cuda":
                torch.cuda.synchronize(prompts.device)
        latency = time.perf_counter() - started
        return latency, int(prompts.shape[0]) * self.tokens_per_sequence

    def network(self) -> Any:
        return self._network

    def single_sample_input(self) -> tuple[Any, ...]:
        return (self._prompts[:1],)

    def _require(self) -> Any:
        if self._network is None:
            raise RuntimeError("define() must run before evaluate()")
        return self._network


class CausalLMTrainer(Model):
    """A small causal LM trained on a token-stream dataset; next-token accuracy vs tokens/J."""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        splits_dir: str | None = None,
        learning_rate: float = 0.001,
        batch_size: int = 32,
        max_steps: int = 2000,
        eval_interval: int = 100,
        patience: int = 3,
        min_delta: float = 0.001,
        validation_tokens: int = 32768,
        test_tokens: int = 65536,
        eval_batch_size: int = 64,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__()
        for key, value in (("batch_size", batch_size), ("max_steps", max_steps), ("eval_interval", eval_interval),
                           ("validation_tokens", validation_tokens), ("test_tokens", test_tokens), ("eval_batch_size", eval_batch_size)):
            check_positive_int(key, value)
        check_positive_int("patience", patience, minimum=0)
        check_positive_number("learning_rate", learning_rate)
        from ecopt.data import TEXT_DATASETS
        from ecopt.settings import validate_section

        self.data_config = validate_section("data", data if data is not None else {"dataset": "python_docs"})
        if self.data_config.dataset not in TEXT_DATASETS:
            raise ConfigError("data.dataset", self.data_config.dataset, f"a token-stream dataset for CausalLMTrainer: one of {list(TEXT_DATASETS)}")
        self.splits_dir = splits_dir
        self.learning_rate, self.batch_size, self.max_steps = float(learning_rate), batch_size, max_steps
        self.eval_interval, self.patience, self.min_delta = eval_interval, patience, float(min_delta)
        self.validation_tokens, self.test_tokens, self.eval_batch_size = validation_tokens, test_tokens, eval_batch_size
        self.device_name, self.seed = check_device(device), seed
        self.performance_metric = "next_token_accuracy"

        # Wide domains: a study's space (ranges or choices) picks inside them.
        self.hidden_size = Range(64, 8, 8192, log_scale=True, value_type=ValueType.INT)
        self.layers = Range(2, 1, 96, value_type=ValueType.INT)
        self.heads = Range(2, 1, 128, log_scale=True, value_type=ValueType.INT)
        self.context_length = Range(64, 8, 8192, log_scale=True, value_type=ValueType.INT)

        self._splits: Any = None
        self._network: Any = None
        self._test_windows: Any = None
        self.steps_trained = 0
        self.best_validation_loss = math.nan

    @property
    def splits(self) -> Any:
        if self._splits is None:
            self._splits = load_or_build_splits(self.splits_dir, self.data_config)
            if self._splits.x_train.ndim != 1:
                raise ConfigError("data.dataset", self._splits.name, "a token-stream dataset (the prepared splits hold images)")
        return self._splits

    def define(self) -> None:
        self._network = build_causal_lm(
            self.hidden_size.value, self.layers.value, self.heads.value, self.context_length.value, self.splits.num_classes, self.seed
        ).to(resolve_device(self.device_name))
        self._test_windows = None

    def _windows(self, stream: np.ndarray, limit: int) -> Any:
        """Non-overlapping (context+1)-token windows from the start of a held-out stream."""
        import torch

        span = self.context_length.value + 1
        count = max(1, min(len(stream), limit) // span)
        if len(stream) < span:
            raise ConfigError("data", self.splits.name, f"held-out text longer than one {span}-token window")
        windows = np.asarray(stream[: count * span], dtype=np.int64).reshape(count, span)
        return torch.from_numpy(windows).to(resolve_device(self.device_name))

    def train(self) -> None:
        import torch

        network, device = self._require(), resolve_device(self.device_name)
        train = torch.from_numpy(np.asarray(self.splits.x_train, dtype=np.int64))
        span = self.context_length.value + 1
        if len(train) <= span:
            raise ConfigError("data", self.splits.name, f"training text longer than one {span}-token window")
        validation = self._windows(self.splits.x_val, self.validation_tokens)
        optimiser = torch.optim.AdamW(network.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(self.seed)
        best_loss, best_state, stale = math.inf, None, 0
        for step in range(1, self.max_steps + 1):
            network.train()
            starts = torch.randint(0, len(train) - span, (self.batch_size,), generator=generator)
            batch = torch.stack([train[s : s + span] for s in starts.tolist()]).to(device)
            optimiser.zero_grad(set_to_none=True)
            loss = network(input_ids=batch[:, :-1], labels=batch[:, :-1]).loss  # HF shifts labels itself
            loss.backward()
            optimiser.step()
            self.steps_trained = step
            if step % self.eval_interval and step != self.max_steps:
                continue
            validation_loss = self._loss(validation)
            if validation_loss < best_loss - self.min_delta:
                best_loss, best_state, stale = validation_loss, copy.deepcopy(network.state_dict()), 0
            else:
                stale += 1
            logger.info("step %d/%d: train loss %.4f, validation loss %.4f (best %.4f)", step, self.max_steps, loss.item(), validation_loss, best_loss)
            if stale >= max(1, self.patience):
                logger.info("early stop at step %d", step)
                break
        if best_state is not None:
            network.load_state_dict(best_state)
        self.best_validation_loss = best_loss

    def evaluate(self) -> tuple[float, int]:
        """Next-token accuracy over held-out windows; samples are predicted tokens."""
        import torch

        network = self._require()
        if self._test_windows is None:  # built once, outside the metered passes
            self._test_windows = self._windows(self.splits.x_test, self.test_tokens)
        network.eval()
        correct = total = 0
        with torch.inference_mode():
            for start in range(0, len(self._test_windows), self.eval_batch_size):
                batch = self._test_windows[start : start + self.eval_batch_size]
                predicted = network(input_ids=batch[:, :-1]).logits.argmax(dim=-1)
                correct += int((predicted == batch[:, 1:]).sum())
                total += int(batch[:, 1:].numel())
        return correct / total, total

    def network(self) -> Any:
        return self._network

    def single_sample_input(self) -> tuple[Any, ...]:
        import torch

        return (torch.zeros((1, self.context_length.value), dtype=torch.long, device=resolve_device(self.device_name)),)

    def _loss(self, windows: Any) -> float:
        import torch

        network = self._require()
        network.eval()
        total, count = 0.0, 0
        with torch.inference_mode():
            for start in range(0, len(windows), self.eval_batch_size):
                batch = windows[start : start + self.eval_batch_size]
                total += float(network(input_ids=batch[:, :-1], labels=batch[:, :-1]).loss) * len(batch)
                count += len(batch)
        return total / count

    def _require(self) -> Any:
        if self._network is None:
            raise RuntimeError("define() must run before train() or evaluate()")
        return self._network
