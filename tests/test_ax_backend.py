"""The Ax backend, and a smoke test of every private Ax internal it relies on (fails when Ax moves one)."""

import math

import numpy as np
import pytest

from ecopt import ax_backend
from ecopt.history import observations
from ecopt.hyperparameter import Range
from ecopt.objectives import parse_objectives
from ecopt.settings import validate_section

pytestmark = pytest.mark.slow  # Ax imports and GP fits

SPACE = {"x0": Range(0.5, 0.0, 1.0), "x1": Range(0.5, 0.0, 1.0)}
OBJECTIVES = parse_objectives(["f0", "f1"])
SETTINGS = validate_section("search", {"mc_samples": 16, "num_restarts": 2, "raw_samples": 32, "fit_max_iterations": 20})


def fitted_round(count=6):
    """A model-based round's client and strategy, fitted on a synthetic trade-off."""
    rng = np.random.default_rng(0)
    history = []
    for index, (a, b) in enumerate(rng.random((count, 2))):
        history.append({"params": {"x0": float(a), "x1": float(b)}, "status": "completed", "index": index, "f0": float(a + b), "f1": float(2 - a - b**2)})
    observed = observations(history, SPACE, OBJECTIVES)
    client = ax_backend.new_client(SPACE, OBJECTIVES, [0.0, 0.0], seed=0)
    strategy = ax_backend.set_generation_strategy(client, "mobo", SETTINGS, seed=0, objectives=OBJECTIVES)
    ax_backend.attach_history(client, observed.attached, OBJECTIVES, {})
    return client, strategy


def test_the_installed_ax_is_the_supported_version():
    import ax

    assert ax.__version__.startswith(ax_backend.SUPPORTED_AX + ".")
    ax_backend.require_supported_ax()


def test_another_ax_version_is_refused_naming_it(monkeypatch):
    import ax

    monkeypatch.setattr(ax_backend, "_AX_CHECKED", False)
    monkeypatch.setattr(ax, "__version__", "1.4.0")
    with pytest.raises(ax_backend.UnsupportedAxVersion, match=r"needs ax-platform 1\.3\.x, found 1\.4\.0"):
        ax_backend.require_supported_ax()


def test_private_internals_still_exist_and_work():
    """Every entry of PRIVATE_AX_INTERNALS, exercised: if Ax renames one, this fails."""
    from ax.core.experiment import Experiment

    client, strategy = fitted_round()
    assert isinstance(ax_backend.experiment_of(client), Experiment)
    assert len(ax_backend.experiment_of(client).trials) == 6
    with ax_backend.seeded(0):
        first = ax_backend.generate(strategy, client, SPACE, 1)
    generator = strategy.adapter.generator
    for name in ("_botorch_acqf_class", "_user_specified_botorch_acqf_class", "_botorch_acqf_options"):
        assert hasattr(generator, name), f"BoTorchGenerator.{name} is gone: update ecopt/ax_backend.py's private section"
    assert generator._botorch_acqf_class.__name__ == "qLogNoisyExpectedHypervolumeImprovement"

    # The swap takes effect: the next candidate is built by the posterior-mean acquisition.
    built = []
    cls = ax_backend.posterior_mean_hvi_class()
    original = cls.__init__
    try:
        cls.__init__ = lambda self, *args, **kwargs: built.append(kwargs.get("ref_point")) or original(self, *args, **kwargs)
        ax_backend.attach_pending(client, [{k: v for k, v in p.items()} for p in first])
        ax_backend.use_posterior_mean_hvi(strategy)
        with ax_backend.seeded(0):
            second = ax_backend.generate(strategy, client, SPACE, 1)
    finally:
        cls.__init__ = original
    assert built, "Ax did not build the swapped acquisition class"
    assert len(second) == 1 and second != first


def test_state_saves_and_reloads_through_the_public_api(tmp_path):
    client, strategy = fitted_round()
    path = ax_backend.save_state(client, tmp_path / "rounds/001/experiment.json")
    assert [p.name for p in path.parent.iterdir()] == ["experiment.json"]  # no temporary file left behind
    reloaded = ax_backend.load_state(path)
    assert len(ax_backend.experiment_of(reloaded).trials) == 6
    assert ax_backend.experiment_of(reloaded).optimization_config.objective.metric_names == ["f0", "f1"]


def test_the_gp_fit_stops_at_the_iteration_cap():
    import torch
    from ax.generators.torch.botorch_modular.utils import fit_botorch_model
    from gpytorch.mlls import ExactMarginalLogLikelihood

    generator = torch.Generator().manual_seed(0)
    train_x = torch.rand(30, 3, generator=generator, dtype=torch.double)
    train_y = torch.sin(6 * train_x).sum(-1, keepdim=True) + 0.05 * torch.randn(30, 1, generator=generator, dtype=torch.double)

    def fitted_mll(iterations):
        model = ax_backend.capped_fit_gp_class()(train_x, train_y)
        fit_botorch_model(model, mll_class=ExactMarginalLogLikelihood, mll_options={"fit_max_iterations": iterations})
        mll = ExactMarginalLogLikelihood(model.likelihood, model).train()
        with torch.no_grad():
            return mll(model(train_x), model.train_targets).item()

    converged = fitted_mll(500)
    assert fitted_mll(1) < converged - 0.02  # one step is not enough: the cap reached the optimiser
    assert fitted_mll(50) == pytest.approx(converged, abs=1e-3)


def test_posterior_mean_hvi_is_the_hypervolume_improvement_of_the_model_mean():
    import torch
    from botorch.models import ModelListGP, SingleTaskGP

    from ecopt.frontier import hypervolume

    generator = torch.Generator().manual_seed(0)
    train_x = torch.rand(12, 2, generator=generator, dtype=torch.double)
    train_y = torch.stack([train_x.sum(-1), (1 - train_x).prod(-1)], -1)
    model = ModelListGP(*[SingleTaskGP(train_x, train_y[:, j : j + 1]) for j in range(2)]).eval()
    reference = [0.0, 0.0]
    acquisition = ax_backend.posterior_mean_hvi_class()(model=model, ref_point=reference, X_baseline=train_x)
    with torch.no_grad():
        mean_front = model.posterior(train_x).mean.numpy()
        for _ in range(3):
            candidates = torch.rand(2, 2, generator=generator, dtype=torch.double)  # a batch of q = 2
            expected = hypervolume(np.vstack([mean_front, model.posterior(candidates).mean.numpy()]), reference, [False, False]) - hypervolume(
                mean_front, reference, [False, False]
            )
            got = math.exp(acquisition(candidates[None]).item())
            assert got == pytest.approx(expected, rel=0.02, abs=1e-5)


def test_an_all_fixed_space_is_a_config_error():
    from ecopt.errors import ConfigError
    from ecopt.hyperparameter import Fixed

    with pytest.raises(ConfigError, match="at least one range or choice"):
        ax_backend.ax_parameters({"padding": Fixed("same")})
