"""Energy metering of one phase of work (training, one evaluation window).

CodeCarbon is the meter: RAPL counters for CPUs, NVML's energy counter for NVIDIA
GPUs, and estimates where neither can be read. Every record says, per component,
where its joules came from and whether they are an estimate, because a frontier
built on ``time x constant`` must not pass for a measured one.

Design notes:

* Every CodeCarbon setting is passed explicitly: environment variables and
  ``.codecarbon.config`` files otherwise fill what is left out, and a user's
  stray config would silently change what is measured.
* ``allow_multiple_runs=True`` and no output methods: CodeCarbon's lock file
  disables later trackers without an error and outlives killed processes, and
  its CSV output would litter the working directory.
* The first ``start()`` in a process probes the hardware (~2 s); ``warm_up()``
  pays that once, outside any metered window.
* Every window holds the machine-wide metered lock (``ecopt.metered_lock``):
  no two windows overlap on one machine, whatever Snakemake's ``--cores`` or
  profile, and across studies run at once. The meter waits for the lock before
  it starts, so a wait is never metered.
* The idle baseline answers "how much of this is the model?": measure the
  machine doing nothing for a few seconds, then report ``dynamic_joules`` =
  total - idle power x duration beside the total.
* A reading that cannot be an energy is refused, never passed on: 0 J in total,
  or any component below 0 J (or not finite), is what a counter reset or a wrap
  the backend missed looks like (RAPL's energy register wraps; an NVML counter
  restarts with the driver). With 0 J a configuration's samples/J is infinite
  or undefined; with -4000 J CPU and +4500 J GPU it is plausible and wrong.
  ``Meter.measure`` raises ``MeasurementError`` for such a window;
  ``Meter.measure_window`` re-measures once over a window twice as long as the
  failed one (``RETRY_WINDOW_FACTOR``: a transient wrap rarely repeats, and a
  longer window also lifts a reading out of a coarse counter's resolution) and
  raises only if that fails too. The trial then records ``measurement_failed``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ecopt.errors import MeasurementError
from ecopt.metered_lock import hold_metered_lock
from ecopt.settings import MeterSettings, validate_section

logger = logging.getLogger(__name__)

JOULES_PER_KWH = 3.6e6
# A refused evaluation window is measured again over this many times its length (see the module notes).
RETRY_WINDOW_FACTOR = 2.0
T = TypeVar("T")


@dataclass(frozen=True)
class ComponentEnergy:
    """Energy of one hardware component over a metered window."""

    joules: float
    source: str  # rapl_counter, cpu_load_estimate, constant_tdp, nvml_energy_counter, nvml_power_average, ram_power_model, ...
    estimated: bool
    average_watts: float


@dataclass(frozen=True)
class BackendReading:
    """What a meter backend reports for one start/stop window."""

    seconds: float
    cpu: ComponentEnergy
    ram: ComponentEnergy
    gpu: ComponentEnergy | None
    emissions_kg: float
    tracking_mode: str
    meter: str  # e.g. "codecarbon 3.3.2"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EnergyRecord:
    """One metered phase: what a trial record and a calibration row store."""

    joules: float
    seconds: float
    cpu_seconds: float
    cpu: ComponentEnergy
    ram: ComponentEnergy
    gpu: ComponentEnergy | None
    estimated: bool  # CPU or GPU energy is an estimate, not a counter reading
    emissions_kg_co2eq: float
    country_iso_code: str
    pue: float
    tracking_mode: str
    meter: str
    idle_watts: float | None = None
    dynamic_joules: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def energy_source(self) -> str:
        """One line for figures and tables, e.g. ``cpu:rapl_counter+ram:ram_power_model``."""
        parts = [f"cpu:{self.cpu.source}"]
        if self.gpu is not None:
            parts.append(f"gpu:{self.gpu.source}")
        parts.append(f"ram:{self.ram.source}")
        return "+".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-ready values (components as nested dicts; joules, seconds, watts, kg CO2eq), plus ``energy_source``."""
        data = dataclasses.asdict(self)
        data["energy_source"] = self.energy_source
        return data


class MeterBackend(Protocol):
    """Anything that can meter a window; CodeCarbon in production, fakes in tests."""

    def warm_up(self) -> None:
        """Pay one-time costs (library import, hardware probing) outside any metered window."""
        ...

    def start(self) -> None:
        """Open a window: energy counted from now on."""
        ...

    def stop(self) -> BackendReading:
        """Close the window opened by ``start`` and return its energy; RuntimeError without a ``start``."""
        ...


def unusable_reading(record: EnergyRecord) -> str | None:
    """Why ``record`` cannot be an energy measurement, or None when it can.

    Refused: any component (CPU, RAM, GPU) below 0 J or not finite, and a window
    of 0 J in total. The reason lists every component's joules and sources, so
    that a record of the failure says what the meter read.
    """
    components = [("cpu", record.cpu), ("ram", record.ram)] + ([("gpu", record.gpu)] if record.gpu is not None else [])
    readings = ", ".join(f"{name} {part.joules:.6g} J ({part.source})" for name, part in components)
    bad = [name for name, part in components if not math.isfinite(part.joules) or part.joules < 0]
    if bad:
        return f"negative or non-finite energy in {', '.join(bad)} over a {record.seconds:.3g} s window (a counter reset or wrap the meter missed): {readings}"
    if not record.joules > 0:
        return f"0 J over a {record.seconds:.3g} s window (the meter read no energy): {readings}"
    return None


@dataclass(frozen=True)
class WindowMeasurement:
    """A metered window of repeated passes (see ``Meter.measure_window``).

    ``discarded`` gives the reason for each earlier window of the same passes
    that was refused as unusable (empty when the first window was good).
    """

    record: EnergyRecord
    passes: int
    results: list[Any]
    discarded: list[str] = field(default_factory=list)


# Set by ``ecopt.ledger`` while it meters this process: it builds the backend of every
# ``Meter`` created without one, so that the ledger's own windows and the Meter's never overlap.
_process_backend: Callable[[MeterSettings], MeterBackend] | None = None


def set_process_backend(factory: Callable[[MeterSettings], MeterBackend] | None) -> None:
    """Make ``factory(settings)`` the backend of every later ``Meter()`` without one (None: CodeCarbon)."""
    global _process_backend
    _process_backend = factory


class Meter:
    """Meters phases of work; one instance per process is enough."""

    def __init__(self, settings: MeterSettings | Mapping[str, Any] | None = None, backend: MeterBackend | None = None) -> None:
        # A mapping (or None: all defaults) is validated as the config's meter section.
        self.settings = validate_section("meter", settings)
        if backend is None:
            backend = _process_backend(self.settings) if _process_backend is not None else CodeCarbonBackend(self.settings)
        self.backend: MeterBackend = backend
        self.idle_watts: float | None = None
        self._warm = False
        self._warm_thread: threading.Thread | None = None

    def warm_up(self, background: bool = False) -> None:
        """Pay the meter's one-off start-up cost now, outside any metered window.

        With ``background=True`` the cost overlaps whatever the caller does next
        (importing torch, loading data); the first ``measure`` waits for it.
        """
        if self._warm:
            return
        if background:
            if self._warm_thread is None:
                self._warm_thread = threading.Thread(target=self.backend.warm_up, name="ecopt-meter-warm-up", daemon=True)
                self._warm_thread.start()
            return
        if self._warm_thread is not None:
            self._warm_thread.join()
        else:
            self.backend.warm_up()
        self._warm = True

    def measure(self, work: Callable[[], T], check: bool = True) -> tuple[T, EnergyRecord]:
        """Run ``work()`` inside one metered window; the window is closed even if it raises.

        Raises ``MeasurementError`` (carrying the refused record as ``reading``)
        when the window's reading cannot be an energy (``unusable_reading``), unless
        ``check`` is False (callers that only time the window).

        The window holds the machine-wide metered lock (``ecopt.metered_lock``), so
        no other process's window overlaps it, whatever Snakemake's flags; it waits
        for the lock before the meter starts, so waiting is never metered.
        """
        self.warm_up()
        with hold_metered_lock():
            cpu_before = _process_cpu_seconds()
            self.backend.start()
            try:
                result = work()
            finally:
                reading = self.backend.stop()
            cpu_seconds = _process_cpu_seconds() - cpu_before
        record = self._record(reading, cpu_seconds)
        problem = unusable_reading(record) if check else None
        if problem is not None:
            raise MeasurementError(problem, reading=record)
        return result, record

    def measure_window(self, one_pass: Callable[[], T], min_seconds: float | None = None, max_passes: int | None = None) -> WindowMeasurement:
        """Repeat ``one_pass()`` until the metered window lasts ``min_seconds``.

        A single inference pass over a small test split takes milliseconds, far
        below what a meter resolves (CodeCarbon samples every second; NVML's
        counter moves every ~100 ms). Repeating the pass makes the window long
        enough to measure; efficiency is then every sample processed over the
        joules of the whole window.

        A window whose reading is refused (``unusable_reading``) is measured once
        more, ``RETRY_WINDOW_FACTOR`` times as long as the refused one (and as
        ``max_passes``); ``MeasurementError`` only if that one is refused too, its
        message giving both reasons.
        """
        minimum = self.settings.min_window_seconds if min_seconds is None else min_seconds
        try:
            return self._window(one_pass, minimum, max_passes)
        except MeasurementError as first:
            refused_seconds = first.reading.seconds if first.reading is not None else 0.0
            longer = RETRY_WINDOW_FACTOR * max(minimum, refused_seconds)
            more_passes = None if max_passes is None else math.ceil(RETRY_WINDOW_FACTOR * max_passes)
            logger.warning("metered window refused (%s); measuring again over %.2f s", first.reason, longer)
            try:
                window = self._window(one_pass, longer, more_passes)
            except MeasurementError as second:
                raise MeasurementError(
                    f"{second.reason}; re-measured over a {longer:.3g} s window after the first was refused: {first.reason}",
                    reading=second.reading,
                    refused=[first.reason, second.reason],
                ) from None
            return dataclasses.replace(window, discarded=[first.reason])

    def _window(self, one_pass: Callable[[], T], minimum: float, max_passes: int | None) -> WindowMeasurement:
        results: list[T] = []

        def repeat() -> None:
            started = time.perf_counter()
            while True:
                results.append(one_pass())
                if time.perf_counter() - started >= minimum or (max_passes is not None and len(results) >= max_passes):
                    return

        _, record = self.measure(repeat)
        return WindowMeasurement(record=record, passes=len(results), results=results)

    def overhead_pairs(self, work: Callable[[], Any], pairs: int) -> list[tuple[float, float]]:
        """(unmetered, metered) wall seconds of ``work``, pairs interleaved with alternating order.

        Alternating which side runs first spreads slow drift (a neighbour's load,
        thermal state) over both sides; ``metered / unmetered - 1`` is the overhead.
        Every pair runs under the metered lock: the unmetered side is a timing too.
        """
        self.warm_up()
        walls: list[tuple[float, float]] = []
        with hold_metered_lock():
            for pair in range(pairs):
                seconds = {}
                for metered in (False, True) if pair % 2 == 0 else (True, False):
                    started = time.perf_counter()
                    if metered:
                        self.measure(work, check=False)  # only the wall time counts here
                    else:
                        work()
                    seconds[metered] = time.perf_counter() - started
                walls.append((seconds[False], seconds[True]))
        return walls

    def measure_idle(self, seconds: float | None = None) -> float:
        """Measure idle power in watts over ``seconds`` (default ``meter.idle_seconds``) of sleep; returns it.

        Later records also report dynamic energy (total minus idle watts x seconds).
        ValueError for a duration <= 0; MeasurementError when the window is refused.
        """
        duration = self.settings.idle_seconds if seconds is None else seconds
        if duration <= 0:
            raise ValueError(f"idle measurement needs a positive duration, got {duration!r}")
        _, record = self.measure(lambda: time.sleep(duration))
        self.idle_watts = record.joules / record.seconds
        logger.info("idle power %.2f W over %.1f s (%s)", self.idle_watts, record.seconds, record.energy_source)
        return self.idle_watts

    def _record(self, reading: BackendReading, cpu_seconds: float) -> EnergyRecord:
        joules = reading.cpu.joules + reading.ram.joules + (reading.gpu.joules if reading.gpu else 0.0)
        estimated = reading.cpu.estimated or (reading.gpu is not None and reading.gpu.estimated)
        dynamic = None if self.idle_watts is None else joules - self.idle_watts * reading.seconds
        return EnergyRecord(
            joules=joules,
            seconds=reading.seconds,
            cpu_seconds=cpu_seconds,
            cpu=reading.cpu,
            ram=reading.ram,
            gpu=reading.gpu,
            estimated=estimated,
            emissions_kg_co2eq=reading.emissions_kg,
            country_iso_code=self.settings.country_iso_code,
            pue=float(self.settings.pue),
            tracking_mode=reading.tracking_mode,
            meter=reading.meter,
            idle_watts=self.idle_watts,
            dynamic_joules=dynamic,
            details=reading.details,
        )


def _process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# CodeCarbon CPU modes -> (source name, is it an estimate?)
_CPU_SOURCES = {
    "intel_rapl": ("rapl_counter", False),
    "windows_emi": ("windows_emi_counter", False),
    "intel_power_gadget": ("intel_power_gadget", False),
    "apple_powermetrics": ("apple_powermetrics", False),
    "cpu_load": ("cpu_load_estimate", True),
    "constant": ("constant_tdp", True),
}


class CodeCarbonBackend:
    """Meters with CodeCarbon's ``OfflineEmissionsTracker`` (no network, no files)."""

    _process_warm = False
    _warm_lock = threading.Lock()

    def __init__(self, settings: MeterSettings | Mapping[str, Any]) -> None:
        self.settings = validate_section("meter", settings)
        self._tracker: Any = None
        self._started_at = 0.0

    def _new_tracker(self) -> Any:
        from codecarbon import OfflineEmissionsTracker

        # Its constructor logs an INFO banner and a multiple-runs WARNING before it
        # applies log_level; neither says anything about the measurement.
        logging.getLogger("codecarbon").setLevel(logging.ERROR)

        settings = self.settings
        return OfflineEmissionsTracker(
            project_name="ecopt",
            experiment_name="ecopt",
            country_iso_code=settings.country_iso_code,
            measure_power_secs=float(settings.measure_power_seconds),
            tracking_mode=settings.tracking_mode,
            pue=float(settings.pue),
            gpu_ids=None if settings.gpu_ids is None else list(settings.gpu_ids),
            force_cpu_power=settings.cpu_power_watts,
            force_ram_power=settings.ram_power_watts,
            output_methods=[],
            output_dir=os.devnull,  # nothing may be written; a path that holds no files
            allow_multiple_runs=True,
            log_level="error",
            api_call_interval=-1,
            force_mode_cpu_load=False,
            rapl_include_dram=False,
            rapl_prefer_psys=False,
            wue=0.0,
            force_carbon_intensity_g_co2e_kwh=None,
            electricitymaps_api_token=None,
            logger_preamble="",
        )

    def warm_up(self) -> None:
        """Start and stop one throw-away tracker, once per process, so CodeCarbon's hardware probing is never metered."""
        with self._warm_lock:
            if CodeCarbonBackend._process_warm:
                return
            tracker = self._new_tracker()
            tracker.start()
            tracker.stop()
            CodeCarbonBackend._process_warm = True

    def start(self) -> None:
        """Start a fresh ``OfflineEmissionsTracker`` (one per window: no state carried between windows)."""
        self._tracker = self._new_tracker()
        self._started_at = time.perf_counter()
        self._tracker.start()

    def stop(self) -> BackendReading:
        """Stop the tracker and convert CodeCarbon's kWh per component into joules and average watts.

        Names each component's source from CodeCarbon's hardware objects (RAPL counter,
        load or TDP estimate, NVML energy counter or power average, RAM power model);
        RuntimeError when called without ``start``.
        """
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            raise RuntimeError("CodeCarbonBackend.stop() without start()")
        tracker.stop()
        data = tracker.final_emissions_data
        import codecarbon

        seconds = float(data.duration)
        cpu_source, cpu_estimated = "unknown", True
        details: dict[str, Any] = {}
        gpu: ComponentEnergy | None = None
        for hardware in tracker._hardware:
            kind = type(hardware).__name__
            if kind == "CPU":
                cpu_source, cpu_estimated = _CPU_SOURCES.get(hardware._mode, (hardware._mode, True))
                details["cpu_model"] = hardware.get_model()
                if cpu_estimated:
                    details["cpu_power_assumed_watts"] = float(hardware._tdp)
            elif kind == "GPU":
                fallback = any(getattr(device, "_use_power_fallback", True) for device in hardware.devices.devices)
                gpu = ComponentEnergy(
                    joules=float(data.gpu_energy) * JOULES_PER_KWH,
                    source="nvml_power_average" if fallback else "nvml_energy_counter",
                    estimated=fallback,
                    average_watts=float(data.gpu_energy) * JOULES_PER_KWH / seconds if seconds > 0 else 0.0,
                )
                details["gpu_model"] = tracker._conf.get("gpu_model")
                details["gpu_count"] = tracker._conf.get("gpu_count")
            elif kind == "AppleSiliconChip" and hardware.chip_part == "CPU":
                cpu_source, cpu_estimated = "apple_powermetrics", False
            elif kind == "Raspberry" and hardware.chip_part == "CPU":
                cpu_source, cpu_estimated = "raspberry_pmic", False

        def watts(kwh: float) -> float:
            return kwh * JOULES_PER_KWH / seconds if seconds > 0 else 0.0

        ram_source = "ram_user_constant" if self.settings.ram_power_watts is not None else "ram_power_model"
        if self.settings.cpu_power_watts is not None and cpu_estimated:
            cpu_source = f"{cpu_source}_user_tdp"
        return BackendReading(
            seconds=seconds,
            cpu=ComponentEnergy(float(data.cpu_energy) * JOULES_PER_KWH, cpu_source, cpu_estimated, watts(data.cpu_energy)),
            ram=ComponentEnergy(float(data.ram_energy) * JOULES_PER_KWH, ram_source, True, watts(data.ram_energy)),
            gpu=gpu,
            emissions_kg=float(data.emissions),
            tracking_mode=str(data.tracking_mode),
            meter=f"codecarbon {codecarbon.__version__}",
            details=details,
        )
