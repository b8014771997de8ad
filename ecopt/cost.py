"""Static cost proxies of a torch model: parameter count and FLOPs per sample.

The proxy-correlation study asks whether these predict measured joules (the
paper: they do not, r = -0.12 and 0.26), so they are recorded for every trial.
"""

from __future__ import annotations

from typing import Any


def count_parameters(module: Any) -> int:
    """Number of scalar parameters (trainable or not) of a torch ``nn.Module``: sum of ``numel()``."""
    return int(sum(parameter.numel() for parameter in module.parameters()))


def count_flops(module: Any, inputs: tuple[Any, ...]) -> int:
    """FLOPs of one forward pass on ``inputs`` (a batch of one), by torch's FlopCounterMode.

    A multiply-accumulate counts as two FLOPs, torch's convention.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = module.training
    module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            module(*inputs)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())
