import subprocess
import sys


def test_importing_ecopt_stays_light(python_env):
    code = "import sys, ecopt, ecopt.hyperparameter, ecopt.model, ecopt.space; print(sorted(m for m in ('torch', 'ax', 'codecarbon', 'snakemake') if m in sys.modules))"
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
