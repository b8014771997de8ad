import re
import subprocess
import sys
from pathlib import Path


def test_importing_ecopt_stays_light(python_env):
    code = (
        "import sys, ecopt, ecopt.hyperparameter, ecopt.model, ecopt.space; "
        "print(sorted(m for m in ('torch', 'ax', 'codecarbon', 'snakemake') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=python_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_optimize_is_exported_lazily():
    import ecopt
    from ecopt.function_api import optimize

    assert ecopt.optimize is optimize


def test_module_cli_dispatch(python_env):
    result = subprocess.run([sys.executable, "-m", "ecopt"], env=python_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "usage: ecopt" in result.stderr
    result = subprocess.run([sys.executable, "-m", "ecopt", "trial", "--help"], env=python_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--params" in result.stdout
    result = subprocess.run([sys.executable, "-m", "ecopt", "trail"], env=python_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown stage 'trail'" in result.stderr


def test_help_lists_every_stage_module_with_a_description(python_env):
    import ast

    from ecopt.__main__ import STAGES

    package = Path(__file__).parent.parent / "ecopt"
    with_main = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body) and path.name != "__main__.py":
            with_main.add(".".join(path.relative_to(package.parent).with_suffix("").parts))
    assert with_main == {module for module, _ in STAGES.values()}  # a stage module without a dispatch entry is a test failure
    code = (
        "import sys; from ecopt.__main__ import main; code = main(['--help']); "
        "print(sorted(m for m in ('torch', 'ax', 'codecarbon') if m in sys.modules)); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=python_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for name, (_, description) in STAGES.items():
        assert re.search(rf"^  {name} +{re.escape(description)}$", result.stdout, re.MULTILINE), name
    assert result.stdout.strip().endswith("[]")  # --help imports no stage
