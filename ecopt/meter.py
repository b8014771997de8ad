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
* The efficiency objective counts measured joules only (``meter.components:
  measured``, the default) whenever any component has a counter; modelled
  components are reported beside (``all_joules``, per component) but never mixed
  in silently. With a 40 W RAPL package counter, CodeCarbon adds its RAM model
  (~20 W here, proportional to time, not to work): counting it gave 4 750
  samples/J where the measured component gives 7 118, flattening real differences
  between models by a third. When nothing is measured, every estimate is counted
  and the record says ``estimated``. Each record names what it counted
  (``counted_components``).
* RAPL's DRAM domain is read here (``RaplDramCounter``), not by CodeCarbon:
  with ``rapl_include_dram=True`` CodeCarbon 3.3.2 folds DRAM into its CPU figure
  and still adds its RAM model, counting memory twice and hiding which joules are
  measured. The counter's wrap at ``max_energy_range_uj`` is undone by modular
  difference (one wrap per window: 262 kJ at 10 W is 7 h).
* The meter synchronises the accelerator itself at both edges of every window
  (``synchronize_devices``): CUDA kernels and MPS command buffers run
  asynchronously, so an adapter that forgets ``torch.cuda.synchronize()`` would
  otherwise close its window before its work ran, and the next window would pay
  for it. torch is never imported for this: a process that has not imported it
  has no device work in flight.
* The GPUs metered are the ones this process sees, as NVML indices that ecopt
  resolves itself (``visible_nvml_indices``) from ``CUDA_VISIBLE_DEVICES``:
  CodeCarbon 3.3.2 matches UUIDs after ``lstrip("MIG-")``, which strips the "G" of
  every "GPU-..." UUID, so a UUID list matched nothing and every GPU was metered
  (simulated: 524 W read for GPUs of 250 W + 175 W). Indices are CUDA's, which
  follow NVML's PCI order under ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` and, under
  CUDA's default FASTEST_FIRST, whenever the GPUs are all of one model (ties go
  by PCI bus id); on a mixed machine without PCI_BUS_ID the record says the
  mapping is uncertain.
* Two backends (``meter.backend``): CodeCarbon (default) measures what it can and
  estimates the rest (CPU from load x TDP, RAM from a model, GPU from power
  samples), so every machine gets a figure, flagged where it is an estimate.
  Zeus's ``ZeusMonitor`` (``ZeusBackend``) reads counters only (NVML total energy,
  RAPL package and DRAM, SoC on Apple silicon) and reports nothing it cannot read:
  on a machine without counters its windows are 0 J and are refused, which is
  the honest answer. Both give the same records and sources.
* A machine-mode window counts every process's power, so it also says how
  much of the machine other processes used while it was open
  (``CpuDisturbanceProbe``): the system's busy CPU time (psutil's
  ``cpu_times()``: user, nice, system, irq, softirq; not steal, which is other
  virtual machines, nor guest, which ``user`` already holds) minus this process
  tree's (this process, its reaped children and its live descendants: a data
  loader's workers are the trial's own work), over wall time x logical CPUs. A
  window above ``meter.max_disturbance_share`` is measured again, at most ``meter.disturbance_retries`` times, and the
  least disturbed try is kept; if that one is still above the bar the record
  says ``disturbed: true`` with its share, and the tables and figures mark it.
  A busy neighbour changes both time and (machine-mode) energy: the README's
  batch-size figure was 18-25 tokens/J at batch size 1 on a busy machine and
  43-46 tokens/J on a quiet one. The default bar, 10 % of the machine, leaves
  room for a quiet machine's daemons and the workflow's scheduler while it
  catches one busy core in ten. Measured on this project's 2-core machine while
  three other sessions ran their test suites (load average 3.7-6.6, no idle CPU
  in ``vmstat``): every calibration window read 61-100 %, and the default
  study's calibration flagged all 16 of its repeats; a busy loop per CPU beside a
  sleeping window reads above 60 % (tests/test_meter.py). Process mode
  apportions CPU power by this process's share already, so no share is computed
  there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ecopt.errors import ConfigError, MeasurementError
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

    joules: float  # the counted components' joules: what samples/J divides by
    seconds: float
    cpu_seconds: float
    cpu: ComponentEnergy
    ram: ComponentEnergy
    gpu: ComponentEnergy | None
    estimated: bool  # some counted component is an estimate, not a counter reading
    emissions_kg_co2eq: float
    country_iso_code: str
    pue: float
    tracking_mode: str
    meter: str
    idle_watts: float | None = None
    dynamic_joules: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    counted_components: tuple[str, ...] = ("cpu", "gpu", "ram")  # those of cpu/gpu/ram summed into ``joules``
    all_joules: float | None = None  # every component, modelled ones included (reported beside, never the objective)
    synchronized: tuple[str, ...] = ()  # devices synchronised at both edges of the window ("cuda", "mps")
    # Machine mode only (None in process mode): other processes' CPU seconds during the window, their share of
    # wall time x logical CPUs, whether that share is above meter.max_disturbance_share, and the shares of the
    # earlier tries of this window that were measured again because they were disturbed.
    other_cpu_seconds: float | None = None
    disturbance_share: float | None = None
    disturbed: bool = False
    disturbed_tries: tuple[float, ...] = ()

    @property
    def counted(self) -> str:
        """The counted components as one word for tables, e.g. ``cpu+gpu``."""
        return "+".join(self.counted_components)

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
        data["counted_components"] = list(self.counted_components)
        data["synchronized"] = list(self.synchronized)
        data["disturbed_tries"] = list(self.disturbed_tries)
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


COMPONENTS = ("cpu", "gpu", "ram")


def counted_components(parts: Mapping[str, ComponentEnergy], choice: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The components (of ``parts``: name -> reading) whose joules the objective counts.

    ``choice`` is ``meter.components``: ``"measured"`` counts the components read
    from a counter (``estimated`` False), or every component when none is;
    ``"all"`` counts every component, modelled ones included; a list names them.
    Raises ConfigError when a list names none of the components this machine reads.
    """
    present = tuple(name for name in COMPONENTS if name in parts)
    if choice == "all":
        return present
    if choice == "measured":
        measured = tuple(name for name in present if not parts[name].estimated)
        return measured or present
    chosen = tuple(name for name in present if name in choice)
    if not chosen:
        raise ConfigError("meter.components", list(choice), f"at least one of the components this machine reads ({', '.join(present)})")
    return chosen


def synchronize_devices() -> tuple[str, ...]:
    """Wait for every accelerator's queued work; return the device kinds synchronised.

    CUDA: each visible device (``torch.cuda.synchronize(i)``), only when this
    process has initialised CUDA; MPS: ``torch.mps.synchronize()`` where torch
    reports MPS available. torch is looked up in ``sys.modules``, never imported:
    a process that has not imported it has queued no device work.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return ()
    synchronized = []
    cuda = getattr(torch, "cuda", None)
    if cuda is not None and cuda.is_initialized():
        for index in range(cuda.device_count()):
            cuda.synchronize(index)
        synchronized.append("cuda")
    mps_backend = getattr(getattr(torch, "backends", None), "mps", None)
    if mps_backend is not None and mps_backend.is_available() and hasattr(torch, "mps"):
        torch.mps.synchronize()
        synchronized.append("mps")
    return tuple(synchronized)


class RaplDramCounter:
    """RAPL DRAM domains of the powercap tree, read at the edges of a window.

    ``domains`` are the domain directories named ``dram`` under
    ``/sys/class/powercap`` (top-level ``intel-rapl:N`` and sub-domains
    ``intel-rapl:N:M``; each physical domain once, by real path). ``read()``
    gives each domain's ``energy_uj``; ``joules_since(before)`` the energy since,
    undoing one wrap at ``max_energy_range_uj`` per domain.
    """

    def __init__(self, root: str = "/sys/class/powercap") -> None:
        import glob

        seen: dict[str, str] = {}
        tops = sorted(glob.glob(os.path.join(root, "intel-rapl:*")) + glob.glob(os.path.join(root, "intel-rapl", "intel-rapl:*")))
        for top in tops:
            for domain in [top, *sorted(glob.glob(os.path.join(top, "intel-rapl:*")))]:
                real = os.path.realpath(domain)
                if real in seen or not os.path.isdir(domain):
                    continue
                try:
                    with open(os.path.join(domain, "name")) as handle:
                        name = handle.read().strip()
                    with open(os.path.join(domain, "energy_uj")) as handle:
                        int(handle.read())
                except (OSError, ValueError):
                    continue  # unreadable (permissions) or not a counter: not a source
                if name.lower().startswith("dram"):
                    seen[real] = domain
        self.domains = list(seen.values())
        self.max_range_uj = [self._max_range(domain) for domain in self.domains]

    @staticmethod
    def _max_range(domain: str) -> int:
        try:
            with open(os.path.join(domain, "max_energy_range_uj")) as handle:
                return int(handle.read())
        except (OSError, ValueError):
            return 0  # no wrap correction possible; a wrap then reads negative and is refused

    def read(self) -> list[int]:
        """Every domain's ``energy_uj`` now (microjoules, wrapping)."""
        values = []
        for domain in self.domains:
            with open(os.path.join(domain, "energy_uj")) as handle:
                values.append(int(handle.read()))
        return values

    def joules_since(self, before: list[int]) -> float:
        """Joules of all DRAM domains since ``before`` (a ``read()``)."""
        total_uj = 0
        for start, end, max_range in zip(before, self.read(), self.max_range_uj, strict=True):
            delta = end - start
            total_uj += delta % max_range if max_range > 0 else delta
        return total_uj / 1e6


class DisturbanceProbe(Protocol):
    """Reads how much CPU time processes outside this process tree used over a window."""

    def read(self) -> Any:
        """A snapshot taken at a window's edge (opaque to the caller)."""
        ...

    def since(self, before: Any) -> tuple[float, float]:
        """(other processes' CPU seconds, their share of wall seconds x logical CPUs) since ``before``."""
        ...


def process_tree_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, its reaped children, and every live descendant (with theirs).

    A child that exits during a window moves from the live descendants (read at the
    window's start) to ``os.times()``'s children fields once reaped, so the
    difference over a window counts it once. Descendants that vanish between the
    listing and the read are skipped. psutil (a CodeCarbon dependency) lists them.
    """
    import psutil

    times = os.times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in psutil.Process().children(recursive=True):
        try:
            child_times = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        total += child_times.user + child_times.system + getattr(child_times, "children_user", 0.0) + getattr(child_times, "children_system", 0.0)
    return total


def system_busy_cpu_seconds() -> float:
    """CPU seconds every logical CPU of this machine spent busy since boot (psutil ``cpu_times()``).

    Busy is user + nice + system + irq + softirq: not idle or iowait, not steal
    (time another virtual machine ran), not guest (Linux counts it in user already).
    """
    import psutil

    times = psutil.cpu_times()
    return sum(float(getattr(times, name, 0.0)) for name in ("user", "nice", "system", "irq", "softirq"))


class CpuDisturbanceProbe:
    """Other processes' CPU time over a window: the system's busy CPU time minus this process tree's.

    The share is over wall time x logical CPUs (``psutil.cpu_count()``), so 1.0
    means every CPU was busy with other work for the whole window. Both clocks
    tick at the kernel's USER_HZ (10 ms): on 2 CPUs a 0.5 s window resolves
    about 2 % of share.
    """

    def __init__(self) -> None:
        import psutil

        self.logical_cpus = psutil.cpu_count() or 1

    def read(self) -> tuple[float, float, float]:
        """(system busy CPU seconds, this tree's CPU seconds, ``time.perf_counter()``) now."""
        return system_busy_cpu_seconds(), process_tree_cpu_seconds(), time.perf_counter()

    def since(self, before: tuple[float, float, float]) -> tuple[float, float]:
        """(other processes' CPU seconds >= 0, share of wall x CPUs in [0, 1]) since the snapshot ``before``."""
        system, tree, now = self.read()
        other = max(0.0, (system - before[0]) - (tree - before[1]))
        wall = now - before[2]
        share = min(1.0, other / (wall * self.logical_cpus)) if wall > 0 else 0.0
        return other, share


# What a machine-mode Meter reads disturbance with (tests swap in a probe of a quiet machine).
_disturbance_probe_factory: Callable[[], DisturbanceProbe] = CpuDisturbanceProbe


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


def default_backend(settings: MeterSettings) -> MeterBackend:
    """The backend ``meter.backend`` names: ``ZeusBackend`` for ``zeus``, else ``CodeCarbonBackend``."""
    return ZeusBackend(settings) if settings.backend == "zeus" else CodeCarbonBackend(settings)


class Meter:
    """Meters phases of work; one instance per process is enough."""

    def __init__(
        self, settings: MeterSettings | Mapping[str, Any] | None = None, backend: MeterBackend | None = None, disturbance_probe: DisturbanceProbe | None = None
    ) -> None:
        # A mapping (or None: all defaults) is validated as the config's meter section.
        self.settings = validate_section("meter", settings)
        if backend is None:
            backend = _process_backend(self.settings) if _process_backend is not None else default_backend(self.settings)
        self.backend: MeterBackend = backend
        # Machine mode only: what other processes do is then part of every reading (see the module notes).
        if disturbance_probe is None and self.settings.tracking_mode == "machine":
            disturbance_probe = _disturbance_probe_factory()
        self.disturbance_probe = disturbance_probe
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

        In machine mode the record also says how much CPU time other processes used
        (``other_cpu_seconds``, ``disturbance_share``, ``disturbed``); this method
        never measures again (``measure_window``, ``measure_idle`` and
        ``measure_undisturbed`` do).
        """
        self.warm_up()
        probe = self.disturbance_probe
        with hold_metered_lock():
            synchronize_devices()  # work queued before the window is not this window's
            probe_before = probe.read() if probe is not None else None
            cpu_before = _process_cpu_seconds()
            self.backend.start()
            try:
                result = work()
            finally:
                try:
                    synchronized = synchronize_devices()  # the window closes when the device's work is done
                finally:
                    reading = self.backend.stop()
            cpu_seconds = _process_cpu_seconds() - cpu_before
            disturbance = probe.since(probe_before) if probe is not None else None
        record = self._record(reading, cpu_seconds, synchronized, disturbance)
        problem = unusable_reading(record) if check else None
        if problem is not None:
            raise MeasurementError(problem, reading=record)
        return result, record

    def _while_disturbed(self, measure_once: Callable[[], tuple[T, EnergyRecord]], reset: Callable[[], Any] | None, keep_last: bool) -> tuple[T, EnergyRecord]:
        """``measure_once()``, again while its record is disturbed, at most ``meter.disturbance_retries`` more times.

        Keeps the least disturbed try (``keep_last``: the last one, whose side effects
        are the ones left behind); ``reset()`` runs before each new try. The kept
        record lists the other tries' shares in ``disturbed_tries``.
        """
        tries = [measure_once()]
        while tries[-1][1].disturbed and len(tries) <= self.settings.disturbance_retries:
            record = tries[-1][1]
            logger.warning(
                "metered window disturbed: other processes used %.0f%% of this machine's CPU time (bar %.0f%%); measuring it again (%d of %d)",
                100 * (record.disturbance_share or 0.0),
                100 * self.settings.max_disturbance_share,
                len(tries),
                self.settings.disturbance_retries,
            )
            if reset is not None:
                reset()
            tries.append(measure_once())
        if len(tries) == 1:
            return tries[0]
        kept = len(tries) - 1 if keep_last else min(range(len(tries)), key=lambda i: tries[i][1].disturbance_share or 0.0)
        result, record = tries[kept]
        others = tuple(float(r.disturbance_share or 0.0) for i, (_, r) in enumerate(tries) if i != kept)
        if record.disturbed:
            logger.warning("every try of this window was disturbed; recorded with disturbed: true (%.0f%% of the CPU)", 100 * (record.disturbance_share or 0.0))
        return result, dataclasses.replace(record, disturbed_tries=others)

    def measure_undisturbed(self, work: Callable[[], T], reset: Callable[[], Any] | None = None) -> tuple[T, EnergyRecord]:
        """``measure(work)``, measured again while the window is disturbed (machine mode; see the module notes).

        For work that cannot simply be repeated (training): ``reset()`` runs before
        each new try (a fresh ``define()``), and the last try is kept, since its
        effects are the ones left behind. At most ``meter.disturbance_retries`` more
        tries; the record says ``disturbed`` when the last is still above the bar.
        Raises ``MeasurementError`` as ``measure`` does.
        """
        return self._while_disturbed(lambda: self.measure(work), reset, keep_last=True)

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

        def measure_once() -> tuple[list[T], EnergyRecord]:
            results.clear()
            _, record = self.measure(repeat)
            return list(results), record

        # The passes are pure repeats: any try may be kept, so the least disturbed is.
        passes, record = self._while_disturbed(measure_once, reset=None, keep_last=False)
        return WindowMeasurement(record=record, passes=len(passes), results=passes)

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
        """Measure idle power in watts (of the counted components) over ``seconds`` (default ``meter.idle_seconds``) of sleep; returns it.

        Later records also report dynamic energy (total minus idle watts x seconds).
        ValueError for a duration <= 0; MeasurementError when the window is refused.
        """
        duration = self.settings.idle_seconds if seconds is None else seconds
        if duration <= 0:
            raise ValueError(f"idle measurement needs a positive duration, got {duration!r}")
        _, record = self._while_disturbed(lambda: self.measure(lambda: time.sleep(duration)), reset=None, keep_last=False)
        self.idle_watts = record.joules / record.seconds
        logger.info("idle power %.2f W over %.1f s (%s)", self.idle_watts, record.seconds, record.energy_source)
        return self.idle_watts

    def _record(
        self, reading: BackendReading, cpu_seconds: float, synchronized: tuple[str, ...] = (), disturbance: tuple[float, float] | None = None
    ) -> EnergyRecord:
        parts = {"cpu": reading.cpu, "ram": reading.ram} | ({"gpu": reading.gpu} if reading.gpu is not None else {})
        counted = counted_components(parts, self.settings.components)
        joules = sum(parts[name].joules for name in counted)
        estimated = any(parts[name].estimated for name in counted)
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
            counted_components=counted,
            all_joules=sum(part.joules for part in parts.values()),
            synchronized=synchronized,
            other_cpu_seconds=None if disturbance is None else disturbance[0],
            disturbance_share=None if disturbance is None else disturbance[1],
            disturbed=disturbance is not None and disturbance[1] > self.settings.max_disturbance_share,
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


def _share_without_gpu(data: Any) -> float:
    """The share of CodeCarbon's total energy that is not GPU energy (its emissions scale with energy)."""
    total = float(data.energy_consumed)
    return 1.0 - float(data.gpu_energy) / total if total > 0 else 1.0


def visible_nvml_indices(environ: Mapping[str, str] | None = None) -> tuple[list[int] | None, str | None]:
    """NVML indices of the GPUs this process sees, and a warning when the mapping is uncertain.

    Reads ``CUDA_VISIBLE_DEVICES`` (indices, ``GPU-``/``MIG-`` UUIDs or their
    prefixes) and ``CUDA_DEVICE_ORDER`` from ``environ`` (default: os.environ).
    Returns (None, None) when the variable is unset (every GPU) or NVML cannot be
    read; ([], None) for an empty list (no GPU visible). Uses pynvml (NVML's
    Python binding, a CodeCarbon dependency), imported only when the variable is set.
    """
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None, None
    entries = [entry.strip() for entry in visible.split(",") if entry.strip()]
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        devices = []
        for index in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            uuid, name = pynvml.nvmlDeviceGetUUID(handle), pynvml.nvmlDeviceGetName(handle)
            devices.append((uuid.decode() if isinstance(uuid, bytes) else uuid, name.decode() if isinstance(name, bytes) else name))
    except Exception:  # no NVML, no driver: no GPU to meter, CodeCarbon finds none either
        return None, None
    indices: list[int] = []
    uncertain = None
    for entry in entries:
        if entry.lstrip("-").isdigit():
            index = int(entry)
            if not 0 <= index < count:
                break  # CUDA stops at the first invalid entry: the rest are not visible
            indices.append(index)
            if environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST") != "PCI_BUS_ID" and len({name for _, name in devices}) > 1:
                uncertain = (
                    "CUDA_VISIBLE_DEVICES gives indices under CUDA_DEVICE_ORDER=FASTEST_FIRST on GPUs of different models: "
                    "CUDA's order may differ from NVML's; set CUDA_DEVICE_ORDER=PCI_BUS_ID or name GPUs by UUID"
                )
        else:
            wanted = entry.removeprefix("MIG-")
            matches = [index for index, (uuid, _) in enumerate(devices) if uuid.removeprefix("MIG-").startswith(wanted)]
            if len(matches) != 1:
                break  # unknown or ambiguous: CUDA stops here too
            indices.append(matches[0])
    return sorted(set(indices)), uncertain


class CodeCarbonBackend:
    """Meters with CodeCarbon's ``OfflineEmissionsTracker`` (no network, no files)."""

    _process_warm = False
    _warm_lock = threading.Lock()

    def __init__(self, settings: MeterSettings | Mapping[str, Any]) -> None:
        self.settings = validate_section("meter", settings)
        self._tracker: Any = None
        self._started_at = 0.0
        self._dram: RaplDramCounter | None = None  # found at warm-up (or first start)
        self._dram_before: list[int] = []
        self._gpu_ids: list[int] | None = None
        self._gpu_mapping_warning: str | None = None

    def _new_tracker(self) -> Any:
        from codecarbon import OfflineEmissionsTracker

        # Its constructor logs an INFO banner and a multiple-runs WARNING before it
        # applies log_level; neither says anything about the measurement.
        logging.getLogger("codecarbon").setLevel(logging.ERROR)

        settings = self.settings
        if settings.gpu_ids is not None:
            gpu_ids: list[int] | None = list(settings.gpu_ids)
        else:
            gpu_ids, self._gpu_mapping_warning = visible_nvml_indices()
            if self._gpu_mapping_warning:
                logger.warning("%s", self._gpu_mapping_warning)
        self._gpu_ids = gpu_ids
        return OfflineEmissionsTracker(
            project_name="ecopt",
            experiment_name="ecopt",
            country_iso_code=settings.country_iso_code,
            measure_power_secs=float(settings.measure_power_seconds),
            tracking_mode=settings.tracking_mode,
            pue=float(settings.pue),
            gpu_ids=gpu_ids,  # NVML indices, resolved here (see the module notes)
            force_cpu_power=settings.cpu_power_watts,
            force_ram_power=settings.ram_power_watts,
            output_methods=[],
            output_dir=os.devnull,  # nothing may be written; a path that holds no files
            allow_multiple_runs=True,
            log_level="error",
            api_call_interval=-1,
            force_mode_cpu_load=False,
            rapl_include_dram=False,  # DRAM is read by RaplDramCounter (see the module notes)
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
        """Start a fresh ``OfflineEmissionsTracker`` (one per window: no state carried between windows) and read DRAM."""
        if self._dram is None:
            self._dram = RaplDramCounter()
        self._tracker = self._new_tracker()
        self._started_at = time.perf_counter()
        self._tracker.start()
        self._dram_before = self._dram.read() if self._dram.domains else []

    def stop(self) -> BackendReading:
        """Stop the tracker and convert CodeCarbon's kWh per component into joules and average watts.

        Names each component's source from CodeCarbon's hardware objects (RAPL counter,
        load or TDP estimate, NVML energy counter or power average, RAM power model;
        RAPL DRAM counter when ``RaplDramCounter`` found one);
        RuntimeError when called without ``start``.
        """
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            raise RuntimeError("CodeCarbonBackend.stop() without start()")
        tracker.stop()
        dram_joules = self._dram.joules_since(self._dram_before) if self._dram is not None and self._dram.domains else None
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
            elif kind == "GPU" and self._gpu_ids == []:
                # CUDA_VISIBLE_DEVICES lists no GPU; CodeCarbon reads an empty list as "all GPUs".
                details["gpu_nvml_indices"] = []
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
                details["gpu_nvml_indices"] = list(hardware.gpu_ids) if hardware.gpu_ids is not None else list(range(hardware.num_gpus))
                if self._gpu_mapping_warning:
                    details["gpu_mapping_warning"] = self._gpu_mapping_warning
            elif kind == "AppleSiliconChip" and hardware.chip_part == "CPU":
                cpu_source, cpu_estimated = "apple_powermetrics", False
            elif kind == "Raspberry" and hardware.chip_part == "CPU":
                cpu_source, cpu_estimated = "raspberry_pmic", False

        def watts(kwh: float) -> float:
            return kwh * JOULES_PER_KWH / seconds if seconds > 0 else 0.0

        ram_source = "ram_user_constant" if self.settings.ram_power_watts is not None else "ram_power_model"
        ram = ComponentEnergy(float(data.ram_energy) * JOULES_PER_KWH, ram_source, True, watts(data.ram_energy))
        if dram_joules is not None:
            # CodeCarbon's RAM figure is a model; the DRAM counter replaces it (the model stays in details).
            details["ram_model_joules"] = ram.joules
            dram_joules *= self.settings.pue  # as CodeCarbon scales every component it reports
            ram = ComponentEnergy(dram_joules, "rapl_dram_counter", False, dram_joules / seconds if seconds > 0 else 0.0)
        if self.settings.cpu_power_watts is not None and cpu_estimated:
            cpu_source = f"{cpu_source}_user_tdp"
        return BackendReading(
            seconds=seconds,
            cpu=ComponentEnergy(float(data.cpu_energy) * JOULES_PER_KWH, cpu_source, cpu_estimated, watts(data.cpu_energy)),
            ram=ram,
            gpu=gpu,
            emissions_kg=float(data.emissions) * (_share_without_gpu(data) if self._gpu_ids == [] else 1.0),
            tracking_mode=str(data.tracking_mode),
            meter=f"codecarbon {codecarbon.__version__}",
            details=details,
        )


class ZeusBackend:
    """Meters with Zeus's ``ZeusMonitor``: NVML, RAPL package and DRAM counters, nothing estimated.

    One monitor per process (it starts a RAPL wrap-around tracker process);
    windows are ``begin_window``/``end_window`` pairs without Zeus's own device
    synchronisation (``Meter`` synchronises, and Zeus's would import torch).
    Components Zeus cannot read are reported as 0 J with source ``not_measured``
    and ``estimated`` True, so they are never counted beside a measured one.
    GPU indices follow ``meter.gpu_ids`` (as CUDA indices: Zeus applies
    ``CUDA_VISIBLE_DEVICES`` itself) or every GPU Zeus sees.
    """

    _monitor: Any = None
    _monitor_lock = threading.Lock()

    def __init__(self, settings: MeterSettings | Mapping[str, Any]) -> None:
        self.settings = validate_section("meter", settings)
        self._key: str | None = None
        self._windows = 0
        self._gpu_mapping_warning: str | None = None

    def _get_monitor(self) -> Any:
        with self._monitor_lock:
            if ZeusBackend._monitor is None:
                from zeus.monitor import ZeusMonitor

                # Zeus logs every window's start at INFO; nothing there says more than the record.
                logging.getLogger("zeus").setLevel(logging.WARNING)
                gpu_indices = None if self.settings.gpu_ids is None else list(self.settings.gpu_ids)
                # Zeus 0.16 reads CUDA_VISIBLE_DEVICES as integers only (a UUID list raises); it meters the
                # NVML indices ecopt resolves (visible_nvml_indices), set while the monitor finds its GPUs.
                visible = os.environ.get("CUDA_VISIBLE_DEVICES")
                indices, self._gpu_mapping_warning = visible_nvml_indices()
                try:
                    if indices is not None:
                        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, indices))
                    ZeusBackend._monitor = ZeusMonitor(gpu_indices=gpu_indices, approx_instant_energy=False, log_file=None)
                finally:
                    if visible is not None:
                        os.environ["CUDA_VISIBLE_DEVICES"] = visible
            return ZeusBackend._monitor

    def warm_up(self) -> None:
        """Create the process's monitor (GPU and RAPL discovery) and open one empty window, outside any metered one.

        Zeus starts its RAPL wrap-around tracker (a spawned Python process, ~1 s of
        CPU) at the first read; in the first metered window that start-up competed
        with the work (a 1.2 s busy loop got 0.18 s of CPU on a loaded 2-core VM).
        """
        monitor = self._get_monitor()
        monitor.begin_window("ecopt-warm-up", sync_execution=False)
        monitor.end_window("ecopt-warm-up", sync_execution=False)

    def start(self) -> None:
        """Open a Zeus window (counters read now)."""
        self._windows += 1
        self._key = f"ecopt-{os.getpid()}-{id(self)}-{self._windows}"
        self._get_monitor().begin_window(self._key, sync_execution=False)

    def stop(self) -> BackendReading:
        """Close the window; per-component joules from the counters' differences."""
        key, self._key = self._key, None
        if key is None:
            raise RuntimeError("ZeusBackend.stop() without start()")
        monitor = self._get_monitor()
        measurement = monitor.end_window(key, sync_execution=False)
        import zeus

        seconds = float(measurement.time)
        pue = float(self.settings.pue)

        def component(energies: Mapping[int, float] | None, source: str) -> ComponentEnergy:
            if not energies:
                return ComponentEnergy(0.0, "not_measured", True, 0.0)
            joules = float(sum(energies.values())) * pue
            return ComponentEnergy(joules, source, False, joules / seconds if seconds > 0 else 0.0)

        gpu = component(measurement.gpu_energy, "nvml_energy_counter") if monitor.gpu_indices else None
        cpu = component(measurement.cpu_energy, "rapl_counter")
        ram = component(measurement.dram_energy, "rapl_dram_counter")
        details: dict[str, Any] = {
            "gpu_nvml_indices": [gpu.gpu_index for gpu in monitor.gpus.gpus] if monitor.gpu_indices else [],
            "cpu_indices": list(monitor.cpu_indices),
        }
        if self._gpu_mapping_warning:
            details["gpu_mapping_warning"] = self._gpu_mapping_warning
        # Zeus gives no carbon figure: CodeCarbon's grid intensity would need its data files; emissions stay 0 here.
        return BackendReading(
            seconds=seconds,
            cpu=cpu,
            ram=ram,
            gpu=gpu,
            emissions_kg=0.0,
            tracking_mode="machine",
            meter=f"zeus {zeus.__version__}",
            details=details,
        )
