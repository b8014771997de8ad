"""Test doubles: a meter backend with known power, adapters that misbehave on purpose."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence

from ecopt.hyperparameter import Choice, Range, ValueType
from ecopt.meter import BackendReading, ComponentEnergy
from ecopt.model import Model


class ConstantPowerBackend:
    """Reports energy = fixed watts x elapsed wall time, like an estimate-only meter."""

    def __init__(self, cpu_watts: float = 10.0, ram_watts: float = 5.0, gpu_watts: float | None = None, cpu_counter: bool = False) -> None:
        # cpu_counter: the CPU reading passes for a counter's (estimated False), as RAPL's would.
        self.cpu_watts, self.ram_watts, self.gpu_watts, self.cpu_counter = cpu_watts, ram_watts, gpu_watts, cpu_counter
        self.warm_ups = 0
        self._started: float | None = None

    def warm_up(self) -> None:
        self.warm_ups += 1

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> BackendReading:
        assert self._started is not None, "stop() without start()"
        seconds = time.perf_counter() - self._started
        self._started = None
        gpu = None
        if self.gpu_watts is not None:
            gpu = ComponentEnergy(self.gpu_watts * seconds, "fake_gpu_counter", False, self.gpu_watts)
        return BackendReading(
            seconds=seconds,
            cpu=ComponentEnergy(self.cpu_watts * seconds, "fake_cpu_counter" if self.cpu_counter else "fake_constant", not self.cpu_counter, self.cpu_watts),
            ram=ComponentEnergy(self.ram_watts * seconds, "fake_constant", True, self.ram_watts),
            gpu=gpu,
            emissions_kg=0.0,
            tracking_mode="machine",
            meter="fake",
        )


class ScriptedReadingsBackend(ConstantPowerBackend):
    """A constant-power meter whose next windows read what the test says (a counter reset, a wrap).

    ``readings`` holds one entry per window, in order: a mapping of component
    ("cpu", "ram", "gpu") -> joules that replaces those components' readings, or
    None for an honest window; windows after the last entry are honest.
    """

    def __init__(self, readings: Sequence[Mapping[str, float] | None], gpu_watts: float | None = None) -> None:
        super().__init__(cpu_watts=10.0, ram_watts=5.0, gpu_watts=gpu_watts)
        self.readings = list(readings)
        self.windows = 0

    def stop(self) -> BackendReading:
        reading = super().stop()
        override = self.readings[self.windows] if self.windows < len(self.readings) else None
        self.windows += 1
        if not override:
            return reading
        parts = {}
        for name, joules in override.items():
            part = getattr(reading, name) or ComponentEnergy(0.0, "fake_gpu_counter", False, 0.0)
            parts[name] = dataclasses.replace(part, joules=joules)
        return dataclasses.replace(reading, **parts)


class ScriptedModel(Model):
    """An adapter whose phases do what the test says: succeed, raise, or run out of memory."""

    def __init__(
        self, fail_in: str | None = None, error: str = "runtime", evaluate_seconds: float = 0.01, performance: float = 0.5, train_seconds: float = 0.0
    ) -> None:
        super().__init__()
        self.fail_in, self.error, self.evaluate_seconds, self.performance = fail_in, error, evaluate_seconds, performance
        self.train_seconds = train_seconds
        self.x = Range(0.5, 0.0, 1.0)
        self.n = Choice(1, [1, 2, 4], value_type=ValueType.INT)
        self.calls: list[str] = []

    def _maybe_fail(self, phase: str) -> None:
        self.calls.append(phase)
        if self.fail_in != phase:
            return
        if self.error == "oom":
            import torch

            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if self.error == "memory":
            raise MemoryError("cannot allocate")
        raise RuntimeError(f"scripted failure in {phase}")

    def define(self) -> None:
        self._maybe_fail("define")

    def train(self) -> None:
        self._maybe_fail("train")
        time.sleep(self.train_seconds)

    def evaluate(self) -> tuple[float, int]:
        self._maybe_fail("evaluate")
        time.sleep(self.evaluate_seconds)
        return self.performance + self.x.value / 10, 10 * self.n.value


class CurveModel(ScriptedModel):
    """A trainer with a scripted learning curve: validation performance ``x * epoch / max_epochs`` at each epoch.

    Each epoch sleeps ``epoch_seconds``; every check goes through ``report_rung``, and a
    rung stop ends training there, as the built-in trainers do. An evaluation pass
    sleeps ``evaluate_seconds * (2 - x)`` for ``10 * n`` samples: larger x and n are
    better in both objectives, so the configuration (x=1, n=4) dominates every other.
    Its inference cost does not depend on training, so it declares
    ``efficiency_independent_of_weights``.
    """

    efficiency_independent_of_weights = True

    def __init__(self, max_epochs: int = 9, epoch_seconds: float = 0.01, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.max_epochs, self.epoch_seconds = max_epochs, epoch_seconds
        self.max_resource = max_epochs
        self.learning_curve: list[dict[str, float]] = []
        self.epochs_trained = 0

    def train(self) -> None:
        self._maybe_fail("train")
        self.learning_curve, started = [], time.perf_counter()
        for epoch in range(1, self.max_epochs + 1):
            time.sleep(self.epoch_seconds)
            self.epochs_trained = epoch
            entry = {"epoch": epoch, "train_loss": 1.0 / epoch, "validation_loss": 1.0 / epoch, "train_seconds": time.perf_counter() - started}
            if self.report_rung(epoch, self.x.value * epoch / self.max_epochs, **entry):
                self.stopped_at_resource = epoch
                return

    def evaluate(self) -> tuple[float, int]:
        self._maybe_fail("evaluate")
        time.sleep(self.evaluate_seconds * (2 - self.x.value))
        return self.x.value * self.epochs_trained / self.max_epochs, 10 * self.n.value


class SteppedBackend:
    """Each window lasts ``seconds`` on a shared fake clock and reads ``watts`` x that; counts open windows.

    ``open_windows`` is shared by every backend built with the same ``state`` dict, so a
    test can assert that two trackers never run at once (``state["max_open"]``).
    """

    def __init__(self, watts: float, seconds: float, state: dict, emissions_kg_per_joule: float = 1e-7) -> None:
        self.watts, self.seconds, self.state, self.emissions_kg_per_joule = watts, seconds, state, emissions_kg_per_joule
        state.setdefault("open", 0)
        state.setdefault("max_open", 0)
        state.setdefault("now", 1000.0)

    def warm_up(self) -> None:
        pass

    def start(self) -> None:
        self.state["open"] += 1
        self.state["max_open"] = max(self.state["max_open"], self.state["open"])

    def stop(self) -> BackendReading:
        self.state["open"] -= 1
        self.state["now"] += self.seconds
        cpu, ram = 0.75 * self.watts * self.seconds, 0.25 * self.watts * self.seconds
        return BackendReading(
            seconds=self.seconds,
            cpu=ComponentEnergy(cpu, "fake_constant", True, 0.75 * self.watts),
            ram=ComponentEnergy(ram, "fake_constant", True, 0.25 * self.watts),
            gpu=None,
            emissions_kg=(cpu + ram) * self.emissions_kg_per_joule,
            tracking_mode="process",
            meter="fake",
        )


class ScriptedProbe:
    """A disturbance probe that reads the given shares, one per window (then the last again)."""

    def __init__(self, shares):
        self.shares, self.windows = list(shares), 0

    def read(self):
        return None

    def since(self, before):
        share = self.shares[min(self.windows, len(self.shares) - 1)]
        self.windows += 1
        return 2 * share, share
