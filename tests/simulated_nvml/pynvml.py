"""A simulated NVML (the ``pynvml`` API) whose GPUs draw known, constant powers.

Put this directory first on ``PYTHONPATH`` (``tests.counters`` does) and the real
pynvml is shadowed. The GPUs come from ``ECOPT_SIMULATED_GPUS``: JSON, a list of
``{"watts": W, "uuid": "GPU-...", "name": "..."}``, and ``ECOPT_SIMULATED_EPOCH``
(Unix seconds at which every energy counter read 0 mJ). The total-energy counter
rises at exactly ``watts`` from the wall clock, so any process reading it (CodeCarbon,
Zeus, ecopt) sees one consistent counter, as it would a driver's.

Only the calls CodeCarbon 3.3.2 and Zeus make are provided; any other attribute
raises AttributeError, so a meter that starts calling something new fails loudly.
NVML enumerates every GPU whatever ``CUDA_VISIBLE_DEVICES`` says, as the real
library does: mapping the CUDA view onto NVML indices is the meter's job.
"""

import json
import os
import time
from collections import namedtuple

NVML_TEMPERATURE_GPU = 0
NVML_SUCCESS = 0
NVML_FEATURE_DISABLED, NVML_FEATURE_ENABLED = 0, 1
NVML_DEVICE_ARCH_VOLTA, NVML_DEVICE_ARCH_AMPERE, NVML_DEVICE_ARCH_HOPPER = 5, 7, 9
NVML_CLOCK_GRAPHICS, NVML_CLOCK_MEM = 0, 2
NVML_POWER_SCOPE_GPU, NVML_POWER_SCOPE_MODULE, NVML_POWER_SCOPE_MEMORY = 0, 1, 2
NVML_FI_DEV_POWER_AVERAGE, NVML_FI_DEV_POWER_INSTANT = 185, 186
# NVML's return codes, as nvml.h numbers them (Zeus maps each to an exception class at import).
NVML_ERROR_UNINITIALIZED, NVML_ERROR_INVALID_ARGUMENT, NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_NO_PERMISSION = 1, 2, 3, 4
NVML_ERROR_ALREADY_INITIALIZED, NVML_ERROR_NOT_FOUND, NVML_ERROR_INSUFFICIENT_SIZE, NVML_ERROR_INSUFFICIENT_POWER = 5, 6, 7, 8
NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_TIMEOUT, NVML_ERROR_IRQ_ISSUE, NVML_ERROR_LIBRARY_NOT_FOUND = 9, 10, 11, 12
NVML_ERROR_FUNCTION_NOT_FOUND, NVML_ERROR_CORRUPTED_INFOROM, NVML_ERROR_GPU_IS_LOST, NVML_ERROR_RESET_REQUIRED = 13, 14, 15, 16
NVML_ERROR_OPERATING_SYSTEM, NVML_ERROR_LIB_RM_VERSION_MISMATCH, NVML_ERROR_MEMORY, NVML_ERROR_UNKNOWN = 17, 18, 20, 999


class NVMLError(Exception):
    """Base of NVML's errors, as pynvml names it."""

    def __init__(self, value: int = 999) -> None:
        super().__init__(value)
        self.value = value


class NVMLError_NotSupported(NVMLError):  # noqa: N801 - pynvml's spelling
    """The call is not supported on this device."""

    def __init__(self, value: int = NVML_ERROR_NOT_SUPPORTED) -> None:
        super().__init__(value)


def _nvmlGetFunctionPointer(name: str) -> None:  # noqa: N802 - Zeus checks for it to tell nvidia-ml-py from look-alikes
    raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)


c_nvmlMemory_t = namedtuple("c_nvmlMemory_t", "total free used")
_Utilization = namedtuple("c_nvmlUtilization_t", "gpu memory")


def _gpus() -> list:
    return json.loads(os.environ.get("ECOPT_SIMULATED_GPUS", "[]"))


def _gpu(handle: int) -> dict:
    gpus = _gpus()
    if not isinstance(handle, int) or not 0 <= handle < len(gpus):
        raise NVMLError(2)  # NVML_ERROR_INVALID_ARGUMENT
    return gpus[handle]


def nvmlInit() -> None:  # noqa: N802 - NVML's names
    if not _gpus():
        raise NVMLError(9)  # NVML_ERROR_DRIVER_NOT_LOADED: no GPU, as on a machine without one


def nvmlShutdown() -> None:  # noqa: N802
    return None


def nvmlSystemGetDriverVersion() -> str:  # noqa: N802
    return "550.00.simulated"


def nvmlDeviceGetCount() -> int:  # noqa: N802
    return len(_gpus())


def nvmlDeviceGetHandleByIndex(index: int) -> int:  # noqa: N802
    _gpu(index)
    return index


def nvmlDeviceGetHandleByUUID(uuid) -> int:  # noqa: N802
    uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
    for index, gpu in enumerate(_gpus()):
        if gpu["uuid"] == uuid:
            return index
    raise NVMLError(6)  # NVML_ERROR_NOT_FOUND


def nvmlDeviceGetName(handle: int) -> str:  # noqa: N802
    return _gpu(handle).get("name", "NVIDIA Simulated GPU")


def nvmlDeviceGetUUID(handle: int) -> str:  # noqa: N802
    return _gpu(handle)["uuid"]


def nvmlDeviceGetTotalEnergyConsumption(handle: int) -> int:  # noqa: N802
    """Millijoules since the simulated driver loaded: watts x (now - epoch)."""
    watts = float(_gpu(handle)["watts"])
    return int(watts * (time.time() - float(os.environ["ECOPT_SIMULATED_EPOCH"])) * 1000)


def nvmlDeviceGetPowerUsage(handle: int) -> int:  # noqa: N802
    return int(float(_gpu(handle)["watts"]) * 1000)  # milliwatts


def nvmlDeviceGetEnforcedPowerLimit(handle: int) -> int:  # noqa: N802
    return int(_gpu(handle).get("limit_watts", 700) * 1000)


def nvmlDeviceGetPowerManagementLimit(handle: int) -> int:  # noqa: N802
    return nvmlDeviceGetEnforcedPowerLimit(handle)


def nvmlDeviceGetMemoryInfo(handle: int) -> c_nvmlMemory_t:  # noqa: N802
    _gpu(handle)
    return c_nvmlMemory_t(80 * 2**30, 79 * 2**30, 2**30)


def nvmlDeviceGetTemperature(handle: int, sensor: int) -> int:  # noqa: N802
    _gpu(handle)
    return 40


def nvmlDeviceGetUtilizationRates(handle: int) -> _Utilization:  # noqa: N802
    _gpu(handle)
    return _Utilization(50, 10)


def nvmlDeviceGetComputeMode(handle: int) -> int:  # noqa: N802
    _gpu(handle)
    return 0


def nvmlDeviceGetComputeRunningProcesses(handle: int) -> list:  # noqa: N802
    _gpu(handle)
    return []


def nvmlDeviceGetGraphicsRunningProcesses(handle: int) -> list:  # noqa: N802
    _gpu(handle)
    return []


def nvmlDeviceGetTemperatureV(handle: int, sensor: int) -> int:  # noqa: N802
    return nvmlDeviceGetTemperature(handle, sensor)


def nvmlDeviceGetC2cModeInfoV(handle: int) -> None:  # noqa: N802
    _gpu(handle)
    raise NVMLError_NotSupported()  # not a Grace Hopper superchip


def nvmlDeviceGetPersistenceMode(handle: int) -> int:  # noqa: N802
    _gpu(handle)
    return NVML_FEATURE_ENABLED


def nvmlDeviceGetPowerManagementDefaultLimit(handle: int) -> int:  # noqa: N802
    return nvmlDeviceGetEnforcedPowerLimit(handle)


def nvmlDeviceGetPowerManagementLimitConstraints(handle: int) -> tuple:  # noqa: N802
    return (100_000, nvmlDeviceGetEnforcedPowerLimit(handle))


def nvmlDeviceGetArchitecture(handle: int) -> int:  # noqa: N802
    _gpu(handle)
    return NVML_DEVICE_ARCH_HOPPER  # Volta or newer: the total-energy counter exists
