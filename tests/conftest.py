import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
# Subprocess tests import tests.fakes adapters by path.
sys.path.insert(0, str(ROOT))


@pytest.fixture
def python_env(monkeypatch):
    """Environment for subprocesses that must import this checkout and the test adapters."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class QuietMachineProbe:
    """A disturbance probe that always reads a machine with nothing else running."""

    def read(self):
        return None

    def since(self, before):
        return 0.0, 0.0


@pytest.fixture(autouse=True)
def quiet_machine(request, monkeypatch):
    """In-process machine-mode meters read no disturbance, unless the test is marked ``machine_load``.

    The suite shares its machine (other tests, other sessions): a real probe would
    re-measure the windows of tests about something else and change what they count.
    tests/test_meter.py's disturbance tests use the real probe (``machine_load``).
    """
    if request.node.get_closest_marker("machine_load") is None:
        import ecopt.meter

        monkeypatch.setattr(ecopt.meter, "_disturbance_probe_factory", QuietMachineProbe)
