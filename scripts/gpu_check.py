"""One device check for a machine with an NVIDIA GPU; prints one table (run by scripts/gpu-check.sh).

Four pieces, each through ecopt's own APIs so the check exercises what a study runs:

1. calibration with NVML: ``ecopt.calibration.calibrate`` on the transformer-batch
   model, repeat-run spread of tokens/J against ``calibration.max_rsd``;
2. a small transformer-batch study: ``ecopt.trial.run_trial`` over a fixed grid of
   batch sizes (a grid, not the Ax search, so the run time is known in advance),
   best tokens/J as a multiple of batch size 1;
3. the proxy study on the GPU: ``ecopt.proxies.measure_architectures`` over a
   handful of torchvision architectures, Pearson r of parameters and of FLOPs
   against joules per image;
4. CodeCarbon against Zeus on the same windows: both backends open and close
   around the same work (``PairedBackend``), GPU joules side by side.

``--device cpu`` runs the same pieces at toy sizes on the CPU and prints the same
table (the Zeus column is then ``not_measured`` unless RAPL is readable): that is
how the script is tested without a GPU. With ``--device cuda`` and no usable GPU it
exits with status 3 and says why.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
NO_GPU = 3


def _study(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    import yaml

    study = yaml.safe_load((REPO / "config" / "studies" / f"{name}.yaml").read_text())

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        for key, value in extra.items():
            base[key] = merge(dict(base.get(key) or {}), value) if isinstance(value, dict) and not key == "space" else value
        return base

    return merge(copy.deepcopy(study), overrides)


class PairedBackend:
    """CodeCarbon and Zeus around the same window: CodeCarbon's reading is returned, Zeus's kept in ``zeus_readings``."""

    def __init__(self, settings: Any) -> None:
        from ecopt.meter import CodeCarbonBackend, ZeusBackend

        self.codecarbon, self.zeus = CodeCarbonBackend(settings), ZeusBackend(settings)
        self.zeus_readings: list[Any] = []

    def warm_up(self) -> None:
        """Both meters' one-off start-up costs."""
        self.codecarbon.warm_up()
        self.zeus.warm_up()

    def start(self) -> None:
        """Zeus reads first and last, so CodeCarbon's window lies inside Zeus's."""
        self.zeus.start()
        self.codecarbon.start()

    def stop(self) -> Any:
        """CodeCarbon's reading (Zeus's appended to ``zeus_readings``)."""
        reading = self.codecarbon.stop()
        self.zeus_readings.append(self.zeus.stop())
        return reading


def check_device(device: str) -> str | None:
    """Why this machine cannot run the GPU check, or None when it can."""
    if device == "cpu":
        return None
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi is not on PATH: no NVIDIA driver on this machine"
    if subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode != 0:
        return "nvidia-smi -L failed: the NVIDIA driver does not answer"
    import torch

    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device (a CPU-only torch build, or CUDA_VISIBLE_DEVICES hides every GPU)"
    return None


def run(device: str) -> list[tuple[str, str, str]]:
    """Run the four pieces; rows of (check, value, detail)."""
    from ecopt.calibration import calibrate
    from ecopt.meter import Meter
    from ecopt.proxies import correlation_stats, measure_architectures
    from ecopt.trial import run_trial

    gpu = device == "cuda"
    window = 3.0 if gpu else 0.5
    rows: list[tuple[str, str, str]] = []
    model_options = {"device": device} | ({} if gpu else {"hidden_size": 64, "layers": 2, "heads": 2, "vocab_size": 1000, "prompt_length": 16, "new_tokens": 4})
    # On a GPU the window search runs (about 90 s at most); on a CPU only the fixed window, to stay short.
    calibration = (
        {"repeats": 5, "window_seconds": [0.5, 1.0, 2.0, 4.0], "budget_seconds": 90.0, "overhead_pairs": 10}
        if gpu
        else {
            "repeats": 3,
            "window_seconds": None,
            "overhead_pairs": 3,
        }
    )
    batch = _study("transformer-batch", {"adapter_options": model_options, "meter": {"min_window_seconds": window}, "calibration": calibration})

    started = time.perf_counter()
    _, summary = calibrate(batch)
    rows.append(
        (
            "calibration",
            f"tokens/J RSD {summary['samples_per_joule_rsd']:.2%}",
            f"bar {summary['max_rsd']:.0%} {'met' if summary['passed'] else 'NOT met'} at a {summary['window_seconds']:g} s window; "
            f"{summary['repeats']} repeats; {summary['energy_source']}" + (" (estimated)" if summary["estimated"] else ""),
        )
    )

    sizes = [1, 4, 16, 64, 256] if gpu else [1, 4, 16]
    efficiency = {}
    meter = Meter(batch["meter"])
    for size in sizes:
        record = run_trial(batch, {"batch_size": size}, meter=meter)
        efficiency[size] = record.samples_per_joule if record.status.value == "completed" else None
    done = {size: value for size, value in efficiency.items() if value}
    best = max(done, key=done.get)
    gain = done[best] / done[1] if 1 in done else float("nan")
    rows.append(
        (
            "transformer-batch",
            f"best batch {best}: {gain:.1f}x batch 1",
            ", ".join(f"{size}: {value:.0f}" if value else f"{size}: failed" for size, value in efficiency.items()) + " tokens/J",
        )
    )

    architectures = ["squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x1_0", "resnet18", "mobilenet_v2", "efficientnet_b0"]
    if gpu:
        architectures += ["resnet50", "densenet121", "convnext_tiny", "vit_b_32"]
    zoo = _study(
        "model-zoo-proxies",
        {
            "adapter_options": {"device": device, "image_size": 224 if gpu else 64, "batch_size": 16 if gpu else 2},
            "space": {"architecture": {"type": "choice", "is_ordered": False, "value_type": "str", "values": architectures}},
            "meter": {"min_window_seconds": window},
            "proxies": {"architectures": len(architectures)},
        },
    )
    stats = correlation_stats(measure_architectures(zoo))
    parameters, flops = stats["parameters_vs_joules_per_sample"], stats["flops_per_sample_vs_joules_per_sample"]
    rows.append(
        (
            "proxy study",
            f"r params {parameters['pearson_r']:.2f}, r FLOPs {flops['pearson_r']:.2f}",
            f"n = {stats['architectures']}; 95% [{parameters['pearson_ci_low']:.2f}, {parameters['pearson_ci_high']:.2f}]"
            f" / [{flops['pearson_ci_low']:.2f}, {flops['pearson_ci_high']:.2f}]; {stats['energy_source']}",
        )
    )

    try:
        paired = PairedBackend(Meter(batch["meter"]).settings)
        paired_meter = Meter(batch["meter"], backend=paired)
        from ecopt.settings import instantiate_adapter, validate_study

        model = instantiate_adapter(validate_study(batch))
        model.set_hyperparameters({"batch_size": best})
        model.define()
        model.evaluate()
        for repeat in range(3):
            window_record = paired_meter.measure_window(model.evaluate, min_seconds=window).record
            zeus = paired.zeus_readings[-1]
            part = "gpu" if gpu else "cpu"
            codecarbon_part, zeus_part = getattr(window_record, part), getattr(zeus, part)
            ratio = zeus_part.joules / codecarbon_part.joules if codecarbon_part and codecarbon_part.joules else float("nan")
            rows.append(
                (
                    f"CodeCarbon vs Zeus #{repeat + 1}",
                    f"{part} {codecarbon_part.joules:.1f} J vs {zeus_part.joules:.1f} J (Zeus/CC {ratio:.3f})",
                    f"{window_record.seconds:.2f} s vs {zeus.seconds:.2f} s; {codecarbon_part.source} / {zeus_part.source}",
                )
            )
    except Exception as error:  # the other checks still count; say what broke
        rows.append(("CodeCarbon vs Zeus", "FAILED", f"{type(error).__name__}: {error}"))
    rows.append(("wall time", f"{time.perf_counter() - started:.0f} s", f"device {device}"))
    return rows


def print_table(rows: list[tuple[str, str, str]]) -> None:
    """One Markdown table: check | result | detail."""
    print("| check | result | detail |")
    print("|---|---|---|")
    for check, value, detail in rows:
        print(f"| {check} | {value} | {detail} |")


def main(argv: list[str] | None = None) -> int:
    """Parse ``--device``; exit 3 without a usable GPU for ``cuda``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: the same table at toy sizes (tests the script)")
    args = parser.parse_args(argv)
    problem = check_device(args.device)
    if problem is not None:
        print(f"gpu-check: no usable NVIDIA GPU: {problem}. Use --device cpu to test the script's pieces.", file=sys.stderr)
        return NO_GPU
    import logging

    logging.basicConfig(level=logging.WARNING)
    print_table(run(args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
