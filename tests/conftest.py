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
