"""R-hat and ESS summaries: known values, unknown when too short, stuck chains flagged;
rank-normalised R-hat, bulk/tail ESS, MCSE, HDI and E-BFMI equal to ArviZ's."""

import math

import numpy as np
import pytest
import torch

from pyro_bnn.inference import diagnostics
from pyro_bnn.inference.diagnostics import mcmc_summary


def test_independent_chains_of_white_noise_have_rhat_one_and_full_ess():
    generator = torch.Generator().manual_seed(0)
    draws = torch.randn(4, 2000, 3, generator=generator)
    site = mcmc_summary({"w": draws})["w"]
    # white noise: R-hat 1 within a few 1/sqrt(S); ESS the number of draws within ~10 %
    assert abs(site["r_hat_max"] - 1.0) < 0.01
    assert 0.85 * 8000 < site["ess_min"] <= site["ess_mean"] < 1.15 * 8000


def test_chains_stuck_in_different_places_have_a_huge_rhat():
    generator = torch.Generator().manual_seed(1)
    draws = torch.randn(2, 500, generator=generator) * 0.1
    draws[1] += 5.0
    # rank normalisation bounds R-hat (two fully separated chains: about 1.8), far above 1.01
    site = mcmc_summary({"w": draws})["w"]
    assert site["r_hat_max"] > 1.5 and site["ess_bulk_min"] < 10


def test_a_chain_that_never_moves_is_flagged_not_hidden():
    draws = torch.full((1, 50), 0.3)
    site = mcmc_summary({"w": draws})["w"]
    assert site["r_hat_max"] == math.inf
    assert site["ess_min"] == 0.0


def test_too_few_draws_give_unknown_not_perfect_values():
    for draws in (3, 1):  # ArviZ's rule: R-hat and ESS need 4 draws per chain
        site = mcmc_summary({"w": torch.randn(2, draws)})["w"]
        assert set(site.values()) == {None}
        assert {"r_hat_max", "ess_min", "ess_mean", "ess_bulk_min", "ess_tail_min"} <= set(site)


def _sticky_chains(seed: int, shape=(4, 301, 3)) -> np.ndarray:
    """Autocorrelated chains (a random walk plus noise), one shifted: R-hat well above 1."""
    rng = np.random.default_rng(seed)
    draws = rng.normal(size=shape).cumsum(1) * 0.1 + rng.normal(size=shape)
    draws[1] += 0.3
    return draws


@pytest.mark.parametrize("seed", [0, 1])
def test_rank_normalized_diagnostics_equal_arviz(seed):
    az = pytest.importorskip("arviz")
    draws = _sticky_chains(seed)
    dataset = az.convert_to_dataset({"w": draws})
    np.testing.assert_allclose(
        diagnostics.rank_normalized_rhat(draws), az.rhat(dataset)["w"].values, atol=1e-3
    )
    for ours, method in ((diagnostics.ess_bulk, "bulk"), (diagnostics.ess_tail, "tail")):
        expected = az.ess(dataset, method=method)["w"].values
        np.testing.assert_allclose(ours(draws), expected, atol=1.0)
    expected = az.ess(dataset, method="mean")["w"].values
    np.testing.assert_allclose(diagnostics.ess_mean(draws), expected, atol=1.0)
    np.testing.assert_allclose(diagnostics.mcse_mean(draws), az.mcse(dataset)["w"].values)
    np.testing.assert_allclose(diagnostics.hdi(draws).T, az.hdi(dataset)["w"].values)
    energy = draws[:, :, 0].cumsum(1)
    np.testing.assert_allclose(diagnostics.e_bfmi(energy), az.bfmi(energy))


def test_unconverged_chains_have_high_rank_rhat_and_low_ess():
    draws = _sticky_chains(2)
    assert diagnostics.rank_normalized_rhat(draws).min() > 1.05
    assert diagnostics.ess_bulk(draws).max() < 100  # of 1204 draws
    mixed = np.random.default_rng(3).normal(size=(4, 500))
    assert abs(diagnostics.rank_normalized_rhat(mixed) - 1.0) < 0.01
    assert diagnostics.ess_tail(mixed) > 1000


def test_rank_rhat_sees_chains_that_differ_only_in_scale():
    """Classic R-hat compares means only; the folded (tail) R-hat sees a wider chain."""
    rng = np.random.default_rng(4)
    draws = rng.normal(size=(4, 1000))
    draws[0] *= 3.0
    assert diagnostics.rank_normalized_rhat(draws) > 1.05
    assert diagnostics._rhat_classic(diagnostics.split_chains(draws[..., None]))[0] < 1.01


def test_one_chain_rhat_is_unknown_unless_split_halves_are_asked_for():
    drifting = np.linspace(0.0, 5.0, 400)[None] + np.random.default_rng(5).normal(size=(1, 400))
    assert np.isnan(diagnostics.rank_normalized_rhat(drifting))  # ArviZ: needs 2 chains
    assert diagnostics.rank_normalized_rhat(drifting, min_chains=1) > 1.5
    assert mcmc_summary({"w": torch.from_numpy(drifting)})["w"]["r_hat_max"] > 1.5


def test_e_bfmi_is_low_when_energy_moves_slowly():
    rng = np.random.default_rng(6)
    independent = rng.normal(size=(2, 1000))
    slow = independent.cumsum(1) * 0.05  # a random walk: small steps, large spread
    assert (diagnostics.e_bfmi(independent) > 1.5).all()  # iid: 2 in expectation
    assert (diagnostics.e_bfmi(slow) < 0.3).all()
