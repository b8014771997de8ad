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

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ecopt.adapters.common import check_positive_int, load_or_build_splits
from ecopt.adapters.torch_base import TorchModel
from ecopt.errors import ConfigError, InfeasibleArchitecture
from ecopt.hyperparameter import Range, ValueType

logger = logging.getLogger(__name__)


def build_causal_lm(hidden_size: int, layers: int, heads: int, context_length: int, vocab_size: int, seed: int = 0) -> Any:
    """A GPT-2-architecture causal LM (``transformers.GPT2LMHeadModel``) with random weights, built from a config (no download).

    ``context_length`` is the number of positions (tokens); the feed-forward width is
    ``4 * hidden_size`` and dropout is off. Raises ``InfeasibleArchitecture`` when
    ``heads`` does not divide ``hidden_size``.
    """
    if hidden_size % heads:
        raise InfeasibleArchitecture(f"hidden size {hidden_size} is not divisible by {heads} attention heads")
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=context_length,
        n_embd=hidden_size,
        n_layer=layers,
        n_head=heads,
        n_inner=4 * hidden_size,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    return GPT2LMHeadModel(config)


class CausalLMInference(TorchModel):
    """Inference efficiency of a causal LM against batch size (tokens/J vs batch latency).

    ``evaluate()`` returns ``(seconds for one batch, tokens processed)``. Bad options
    raise ``ConfigError`` naming ``adapter_options.<key>``; ``train()`` always raises
    (set ``trial.skip_train: true``).
    """

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
        for key, value in (
            ("hidden_size", hidden_size),
            ("layers", layers),
            ("heads", heads),
            ("vocab_size", vocab_size),
            ("prompt_length", prompt_length),
            ("max_batch_size", max_batch_size),
        ):
            check_positive_int(key, value)
        check_positive_int("new_tokens", new_tokens, minimum=0)
        if dtype not in ("float32", "float16", "bfloat16"):
            raise ConfigError("adapter_options.dtype", dtype, "'float32', 'float16' or 'bfloat16'")
        super().__init__(device=device, seed=seed)
        self.model_name = model_name
        self.hidden_size, self.layers, self.heads, self.vocab_size = hidden_size, layers, heads, vocab_size
        self.prompt_length, self.new_tokens = prompt_length, new_tokens
        self.dtype_name = dtype
        self.performance_metric = "batch_latency_seconds"
        self.batch_size = Range(1, 1, max_batch_size, log_scale=True, value_type=ValueType.INT)
        self._prompts: Any = None

    @property
    def tokens_per_sequence(self) -> int:
        """Tokens one sequence contributes to a pass: the prompt plus the generated tokens."""
        # Prefill scores every prompt token; each decoding step adds one per sequence.
        return self.prompt_length + self.new_tokens

    def define(self) -> None:
        """Build (or load ``model_name``) in ``dtype`` on the device, and ``batch_size`` fixed random prompts of ``prompt_length`` tokens."""
        import torch

        device, dtype = self.device, getattr(torch, self.dtype_name)
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
        """Always raises ``ConfigError`` naming ``trial.skip_train``: this adapter measures inference only."""
        self.refuse_training("measures inference only")

    def evaluate(self) -> tuple[float, int]:
        """One batch through the model (prefill, then greedy decoding with the KV cache): ``(seconds, tokens)``."""
        import torch

        network, prompts = self.require_network(), self._prompts
        started = time.perf_counter()
        with torch.inference_mode():
            if self.new_tokens == 0:
                network(input_ids=prompts)
            else:
                attention = torch.ones_like(prompts)
                network.generate(
                    input_ids=prompts,
                    attention_mask=attention,
                    max_new_tokens=self.new_tokens,
                    min_new_tokens=self.new_tokens,
                    do_sample=False,
                    use_cache=True,
                    pad_token_id=0,
                )
            self.synchronize(prompts.device)
        latency = time.perf_counter() - started
        return latency, int(prompts.shape[0]) * self.tokens_per_sequence

    def single_sample_input(self) -> tuple[Any, ...]:
        """One prompt, shape (1, prompt_length) token ids, on the model's device (for FLOP counting)."""
        return (self._prompts[:1],)


class CausalLMTrainer(TorchModel):
    """A small causal LM trained on a token-stream dataset; next-token accuracy vs tokens/J.

    ``evaluate()`` returns ``(next-token accuracy in [0, 1], predicted tokens)``. Bad
    options raise ``ConfigError`` naming ``adapter_options.<key>``, a dataset that is
    not a token stream one naming ``data.dataset``.

    ``efficiency_independent_of_weights``: ``evaluate()`` runs one forward pass over a
    fixed set of fixed-length test windows (teacher forcing, no generation whose
    length could depend on what the model predicts), so the arithmetic per token, and
    its tokens/J, is set by the architecture alone. Rungs are steps (``max_resource``
    is ``max_steps``); a rung is taken at the first validation check (every
    ``eval_interval`` steps) that reaches it.
    """

    efficiency_independent_of_weights = True

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
        for key, value in (
            ("batch_size", batch_size),
            ("max_steps", max_steps),
            ("eval_interval", eval_interval),
            ("validation_tokens", validation_tokens),
            ("test_tokens", test_tokens),
            ("eval_batch_size", eval_batch_size),
        ):
            check_positive_int(key, value)
        super().__init__(device=device, seed=seed)
        self.set_training_options(learning_rate, patience, min_delta)
        from ecopt.data import TEXT_DATASETS
        from ecopt.settings import validate_section

        self.data_config = validate_section("data", data if data is not None else {"dataset": "python_docs"})
        if self.data_config.dataset not in TEXT_DATASETS:
            raise ConfigError("data.dataset", self.data_config.dataset, f"a token-stream dataset for CausalLMTrainer: one of {list(TEXT_DATASETS)}")
        self.splits_dir = splits_dir
        self.batch_size, self.max_steps, self.eval_interval = batch_size, max_steps, eval_interval
        self.max_resource = max_steps  # rungs are steps
        self.validation_tokens, self.test_tokens, self.eval_batch_size = validation_tokens, test_tokens, eval_batch_size
        self.performance_metric = "next_token_accuracy"

        # Wide domains: a study's space (ranges or choices) picks inside them.
        self.hidden_size = Range(64, 8, 8192, log_scale=True, value_type=ValueType.INT)
        self.layers = Range(2, 1, 96, value_type=ValueType.INT)
        self.heads = Range(2, 1, 128, log_scale=True, value_type=ValueType.INT)
        self.context_length = Range(64, 8, 8192, log_scale=True, value_type=ValueType.INT)

        self._splits: Any = None
        self._test_windows: Any = None
        self.steps_trained = 0
        self.best_validation_loss = math.nan

    @property
    def splits(self) -> Any:
        """The prepared token-stream splits (loaded once): x_* are 1-D uint8 byte tokens; ``ConfigError`` for image splits."""
        if self._splits is None:
            self._splits = load_or_build_splits(self.splits_dir, self.data_config)
            if self._splits.x_train.ndim != 1:
                raise ConfigError("data.dataset", self._splits.name, "a token-stream dataset (the prepared splits hold images)")
        return self._splits

    def define(self) -> None:
        """Build the GPT-2-style model for the current hyperparameters (``build_causal_lm``) on the device."""
        self._network = build_causal_lm(
            self.hidden_size.value, self.layers.value, self.heads.value, self.context_length.value, self.splits.num_classes, self.seed
        ).to(self.device)
        self._test_windows = None

    def _windows(self, stream: np.ndarray, limit: int) -> Any:
        """Non-overlapping (context+1)-token windows from the start of a held-out stream."""
        import torch

        span = self.context_length.value + 1
        count = max(1, min(len(stream), limit) // span)
        if len(stream) < span:
            raise ConfigError("data", self.splits.name, f"held-out text longer than one {span}-token window")
        windows = np.asarray(stream[: count * span], dtype=np.int64).reshape(count, span)
        return torch.from_numpy(windows).to(self.device)

    def train(self) -> None:
        """AdamW on random windows of the training stream; a validation check every ``eval_interval`` steps, early stopping (``EarlyStopping``)."""
        import torch

        started = time.perf_counter()
        network, device = self.require_network(), self.device
        train = torch.from_numpy(np.asarray(self.splits.x_train, dtype=np.int64))
        span = self.context_length.value + 1
        if len(train) <= span:
            raise ConfigError("data", self.splits.name, f"training text longer than one {span}-token window")
        validation = self._windows(self.splits.x_val, self.validation_tokens)
        optimiser = torch.optim.AdamW(network.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(self.seed)
        stopper = self.early_stopping()
        self.learning_curve = []
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
            validation_loss, validation_accuracy = self._validate(validation)
            stopping = stopper.step(validation_loss, network)
            seconds = time.perf_counter() - started
            rung_stop = self.report_rung(step, validation_accuracy, step=step, train_loss=loss.item(), validation_loss=validation_loss, train_seconds=seconds)
            logger.info(
                "step %d/%d: train loss %.4f, validation loss %.4f (best %.4f), validation next-token accuracy %.4f",
                step,
                self.max_steps,
                loss.item(),
                validation_loss,
                stopper.best,
                validation_accuracy,
            )
            if rung_stop:
                self.stopped_at_resource = step
                logger.info("early stop (rung) at step %d", step)
                break
            if stopping:
                logger.info("early stop (patience) at step %d", step)
                break
        stopper.restore_best(network)
        self.best_validation_loss = stopper.best

    def evaluate(self) -> tuple[float, int]:
        """Next-token accuracy over held-out windows; samples are predicted tokens."""
        import torch

        network = self.require_network()
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

    def single_sample_input(self) -> tuple[Any, ...]:
        """One all-zero sequence, shape (1, context_length) token ids, on the model's device (for FLOP counting)."""
        import torch

        return (torch.zeros((1, self.context_length.value), dtype=torch.long, device=self.device),)

    def _validate(self, windows: Any) -> tuple[float, float]:
        """Over (count, context+1) windows: (mean next-token cross-entropy in nats, next-token accuracy as ``evaluate()`` counts it)."""
        network = self.require_network()
        counts = [0, 0]  # correct, predicted tokens

        def batch_loss(batch: slice) -> Any:
            tokens = windows[batch]
            output = network(input_ids=tokens[:, :-1], labels=tokens[:, :-1])  # HF shifts labels itself
            counts[0] += int((output.logits.argmax(dim=-1) == tokens[:, 1:]).sum())
            counts[1] += int(tokens[:, 1:].numel())
            return output.loss

        loss = self.mean_over_batches(len(windows), self.eval_batch_size, batch_loss)
        return loss, counts[0] / counts[1]
