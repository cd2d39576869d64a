"""R-hat and ESS summaries: known values, unknown when too short, stuck chains flagged."""

import math

import torch

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
    assert mcmc_summary({"w": draws})["w"]["r_hat_max"] > 10


def test_a_chain_that_never_moves_is_flagged_not_hidden():
    draws = torch.full((1, 50), 0.3)
    site = mcmc_summary({"w": draws})["w"]
    assert site["r_hat_max"] == math.inf
    assert site["ess_min"] == 0.0


def test_too_few_draws_give_unknown_not_perfect_values():
    three = mcmc_summary({"w": torch.randn(2, 3)})["w"]
    assert three["r_hat_max"] is None and three["ess_min"] is not None
    one = mcmc_summary({"w": torch.randn(2, 1)})["w"]
    assert one == {"r_hat_max": None, "ess_min": None, "ess_mean": None}
