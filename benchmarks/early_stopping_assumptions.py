"""The two measurements multi-objective early stopping rests on, for the default study's CNN on digits.

Prints, for a few architectures of the default space:
  * efficiency before vs after training: samples/J of the untrained and of the
    trained network over ``--repeats`` metered evaluation windows each, windows
    interleaved (untrained, trained, untrained, ...) so drift hits both sides; the
    difference of the medians against the spread (relative SD) of each side. Early
    stopping measures efficiency before training (ecopt.trial), which holds only if
    the two agree within the meter's noise;
  * power across training: the mean power (J/s) of a window training ``--short``
    epochs and of one training ``--long`` epochs, same architecture; the learning
    curve's cumulative joules are the window's joules apportioned by time
    (ecopt.trial), which holds only if the power of the first epochs is the power
    of the whole window.

Both through the meter, and as work per unit of time, which is far less noisy on a
shared machine: process CPU seconds per evaluation pass (untrained vs trained,
interleaved, medians of ``--passes``), and, across one training of ``--long``
epochs, the share of the window's CPU seconds reached at each epoch against the
share of its wall seconds. Where the meter estimates CPU power from load
(CodeCarbon without RAPL), energy follows CPU seconds, so the largest gap between
the two shares is the error of apportioning joules by time.

Usage: python benchmarks/early_stopping_assumptions.py [--repeats 5] [--passes 30] [--short 2] [--long 12] [--tracking-mode process]
       (--repeats 0 skips the metered part)
"""

from __future__ import annotations

import argparse
import statistics
import time

from ecopt.adapters.cnn import CNNClassifier
from ecopt.meter import Meter
from ecopt.statistics import relative_standard_deviation

ARCHITECTURES = [
    {"width": 8, "depth": 1, "kernel_size": 3, "pooling": False},
    {"width": 32, "depth": 2, "kernel_size": 3, "pooling": True},
    {"width": 64, "depth": 3, "kernel_size": 5, "pooling": False},
]


def model_for(params: dict, epochs: int) -> CNNClassifier:
    # patience above the budget: the window trains exactly `epochs` epochs.
    model = CNNClassifier(data={"dataset": "digits"}, max_epochs=epochs, patience=epochs + 1, device="cpu")
    model.set_hyperparameters(params)
    model.define()
    return model


def efficiency_before_and_after(meter: Meter, params: dict, repeats: int, epochs: int) -> dict[str, float]:
    untrained = model_for(params, epochs)
    trained = model_for(params, epochs)
    trained.train()
    for model in (untrained, trained):  # the first passes move data and warm thread pools
        for _ in range(5):
            model.evaluate()
    sides: dict[str, list[float]] = {"untrained": [], "trained": []}
    for _ in range(repeats):
        for name, model in (("untrained", untrained), ("trained", trained)):
            window = meter.measure_window(model.evaluate)
            samples = sum(count for _, count in window.results)
            sides[name].append(samples / window.record.joules)
    before, after = statistics.median(sides["untrained"]), statistics.median(sides["trained"])
    return {
        "untrained_samples_per_joule": before,
        "trained_samples_per_joule": after,
        "difference": after / before - 1,
        "rsd_untrained": relative_standard_deviation(sides["untrained"]),
        "rsd_trained": relative_standard_deviation(sides["trained"]),
    }


class TimedCNN(CNNClassifier):
    """The CNN, noting wall and process CPU seconds at every validation check."""

    def report_rung(self, resource: int, performance: float, **entry: float) -> bool:
        self.checks.append((time.perf_counter(), time.process_time()))
        return super().report_rung(resource, performance, **entry)


def work_per_pass(params: dict, passes: int, epochs: int) -> dict[str, float]:
    untrained, trained = model_for(params, epochs), model_for(params, epochs)
    trained.train()
    cpu: dict[str, list[float]] = {"untrained": [], "trained": []}
    for model in (untrained, trained):
        for _ in range(5):
            model.evaluate()
    for _ in range(passes):
        for name, model in (("untrained", untrained), ("trained", trained)):
            started = time.process_time()
            model.evaluate()
            cpu[name].append(time.process_time() - started)
    before, after = statistics.median(cpu["untrained"]), statistics.median(cpu["trained"])
    return {"untrained_cpu_seconds": before, "trained_cpu_seconds": after, "difference": after / before - 1}


def apportioning_gap(params: dict, epochs: int) -> float:
    model = TimedCNN(data={"dataset": "digits"}, max_epochs=epochs, patience=epochs + 1, device="cpu")
    model.set_hyperparameters(params)
    model.define()
    model.checks = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    model.train()
    wall1, cpu1 = time.perf_counter(), time.process_time()
    return max(abs((wall - wall0) / (wall1 - wall0) - (cpu - cpu0) / (cpu1 - cpu0)) for wall, cpu in model.checks)


def power_short_and_long(meter: Meter, params: dict, short: int, long: int) -> dict[str, float]:
    watts = {}
    for epochs in (short, long):
        model = model_for(params, epochs)
        energy = meter.measure(model.train)[1]
        watts[epochs] = energy.joules / energy.seconds
    return {"short_watts": watts[short], "long_watts": watts[long], "difference": watts[short] / watts[long] - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--passes", type=int, default=30)
    parser.add_argument("--short", type=int, default=2)
    parser.add_argument("--long", type=int, default=12)
    parser.add_argument("--tracking-mode", default="process", choices=["process", "machine"])
    parser.add_argument("--min-window-seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: no OpenMP spin-waiting counted as CPU time on a shared machine)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    for params in ARCHITECTURES:
        work = work_per_pass(params, args.passes, args.long)
        gap = apportioning_gap(params, args.long)
        print(
            f"{params}: CPU s per evaluation pass untrained {work['untrained_cpu_seconds'] * 1e3:.2f} ms, trained "
            f"{work['trained_cpu_seconds'] * 1e3:.2f} ms (difference {work['difference']:+.1%}); largest gap between the "
            f"wall-time and CPU-time shares of a {args.long}-epoch training at its checks {gap:.1%}"
        )
    if args.repeats <= 0:
        return
    meter = Meter({"tracking_mode": args.tracking_mode, "min_window_seconds": args.min_window_seconds})
    meter.warm_up()
    print(f"energy source: {meter.measure(lambda: sum(range(10**6)))[1].energy_source}")
    for params in ARCHITECTURES:
        efficiency = efficiency_before_and_after(meter, params, args.repeats, args.long)
        power = power_short_and_long(meter, params, args.short, args.long)
        print(
            f"{params}: samples/J untrained {efficiency['untrained_samples_per_joule']:.0f} "
            f"(RSD {efficiency['rsd_untrained']:.1%}), trained {efficiency['trained_samples_per_joule']:.0f} "
            f"(RSD {efficiency['rsd_trained']:.1%}), difference {efficiency['difference']:+.1%}; "
            f"training power {args.short} epochs {power['short_watts']:.2f} W, {args.long} epochs {power['long_watts']:.2f} W "
            f"(difference {power['difference']:+.1%})"
        )


if __name__ == "__main__":
    main()
