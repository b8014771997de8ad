"""Meter overhead and run-to-run spread on a fixed ~5 s CNN inference workload.

Prints, for the default study's CNN on digits:
  * meter overhead: wall time of the workload metered vs unmetered, pairs
    interleaved (order alternating) so drift hits both sides; median of the pairs;
  * the meter's own CPU time per second of window (idle window);
  * spread: relative standard deviation of joules and of samples/J over repeats
    of the same metered workload, with the energy source.

Usage: python benchmarks/meter.py [--pairs 7] [--repeats 10] [--seconds 5] [--tracking-mode machine]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from ecopt.adapters.cnn import CNNClassifier
from ecopt.meter import Meter
from ecopt.statistics import relative_standard_deviation


def build_workload(target_seconds: float):
    model = CNNClassifier(data={"dataset": "digits"}, max_epochs=5)
    model.set_hyperparameters({"width": 32, "depth": 2, "kernel_size": 3, "pooling": True})
    model.define()
    model.train()
    for _ in range(20):  # the first passes move data to the device and warm caches and thread pools
        model.evaluate()
    started, passes = time.perf_counter(), 0
    while time.perf_counter() - started < 2.0:
        model.evaluate()
        passes += 1
    per_pass = (time.perf_counter() - started) / passes
    fixed_passes = max(1, round(target_seconds / per_pass))

    def workload() -> int:
        samples = 0
        for _ in range(fixed_passes):
            samples += model.evaluate()[1]
        return samples

    return workload, fixed_passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tracking-mode", default="machine", choices=["machine", "process"])
    args = parser.parse_args()

    workload, passes = build_workload(args.seconds)
    meter = Meter({"tracking_mode": args.tracking_mode})
    meter.warm_up()
    print(f"workload: {passes} inference passes over the digits test split (~{args.seconds:.0f} s), tracking mode {args.tracking_mode}")

    # The meter's own CPU cost, on an idle window: robust to neighbours on a shared
    # machine, unlike wall-time differences of a few percent.
    cpu_before = os.times()
    _, idle = meter.measure(lambda: time.sleep(args.seconds))
    cpu_after = os.times()
    meter_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    print(f"meter CPU cost: {meter_cpu / idle.seconds * 1000:.1f} ms per second of metered window ({meter_cpu / idle.seconds:.2%} of one core)")

    overheads = []
    for pair, (unmetered, metered) in enumerate(meter.overhead_pairs(workload, args.pairs), start=1):
        overheads.append(metered / unmetered - 1)
        print(f"  pair {pair}: unmetered {unmetered:.3f} s, metered {metered:.3f} s, overhead {overheads[-1]:+.2%}")
    print(f"meter overhead: median {statistics.median(overheads):+.2%} over {args.pairs} pairs (min {min(overheads):+.2%}, max {max(overheads):+.2%})")

    joules, efficiency, source, estimated = [], [], "", False
    for repeat in range(args.repeats):
        samples, record = meter.measure(workload)
        joules.append(record.joules)
        efficiency.append(samples / record.joules)
        source, estimated = record.energy_source, record.estimated
        print(f"  repeat {repeat + 1}: {record.joules:.2f} J in {record.seconds:.3f} s, {efficiency[-1]:.1f} samples/J")
    print(f"energy source: {source}{' (ESTIMATED: time x assumed power)' if estimated else ''}")
    print(f"joules: mean {statistics.mean(joules):.2f} J, RSD {relative_standard_deviation(joules):.2%} over {args.repeats} repeats")
    print(f"samples/J: mean {statistics.mean(efficiency):.1f}, RSD {relative_standard_deviation(efficiency):.2%} over {args.repeats} repeats")


if __name__ == "__main__":
    main()
