"""Convergence checks of NUTS fits: weight-space symmetry against real disagreement."""

import numpy as np
import torch

import pyro_bnn as pb
from pyro_bnn.inference.diagnostics import mcmc_summary
from pyro_bnn.inference.mcmc_checks import convergence_problems, function_space_diagnostics


def _two_chain_posterior(second_function_differs: bool):
    """Two chains of a 1-4-1 tanh network: the second holds the first chain's function with
    its hidden units permuted (weights far apart, same predictions), or a different one."""
    rng = np.random.default_rng(0)
    model = pb.BayesianMLP(1, 1, hidden=(4,))
    center = {
        "layers.0.weight": rng.normal(size=(4, 1)) * 2,
        "layers.0.bias": rng.normal(size=4),
        "layers.1.weight": rng.normal(size=(1, 4)),
        "layers.1.bias": rng.normal(size=1),
        "sigma": np.array(0.3),
    }
    permutation = [2, 0, 3, 1]
    permuted = dict(center)
    permuted["layers.0.weight"] = center["layers.0.weight"][permutation]
    permuted["layers.0.bias"] = center["layers.0.bias"][permutation]
    permuted["layers.1.weight"] = center["layers.1.weight"][:, permutation]
    if second_function_differs:
        permuted["layers.1.bias"] = center["layers.1.bias"] + 1.0
    draws = 400

    def chain(values):
        return {k: v + 0.02 * rng.normal(size=(draws, *np.shape(v))) for k, v in values.items()}

    chains = [chain(center), chain(permuted)]
    samples = {
        k: torch.tensor(np.concatenate([c[k] for c in chains]), dtype=torch.float32) for k in center
    }
    post = pb.Posterior(model, "nuts", samples=samples, num_chains=2)
    x = torch.linspace(-3, 3, 40, dtype=torch.float32)[:, None]
    post.diagnostics.update(
        sites=mcmc_summary(post.chains()), e_bfmi=[1.0, 1.0], divergences=0, notes=[]
    )
    post.diagnostics["function_space"] = function_space_diagnostics(post, x)
    return post, model


def test_permuted_hidden_units_are_labelled_a_symmetry_not_a_problem():
    post, model = _two_chain_posterior(second_function_differs=False)
    sites = post.diagnostics["sites"]
    assert sites["layers.0.weight"]["r_hat_max"] > 1.5  # weight space: chains far apart
    assert post.diagnostics["function_space"]["r_hat_max"] < 1.01  # same predictions
    problems = convergence_problems(post, model, num_chains=2)
    assert not [p for p in problems if "R-hat" in p]
    (note,) = post.diagnostics["notes"]
    assert "symmetries" in note and "not a problem" in note


def test_chains_with_different_functions_get_a_real_warning():
    post, model = _two_chain_posterior(second_function_differs=True)
    assert post.diagnostics["function_space"]["r_hat_max"] > 1.5
    problems = convergence_problems(post, model, num_chains=2)
    assert any("R-hat of the predictions" in p for p in problems)
    assert any("'layers.1.bias'" in p for p in problems)  # the output bias moved too
    assert not post.diagnostics["notes"]
