import math

import pyro.distributions as dist
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.priors import prior_from_config

LAYERS = [(3, 5), (5, 2)]
LIKE = torch.zeros(())


def _sample_all(prior):
    values = {}
    for site in prior.sites(LAYERS):
        d = site.prior(values, LIKE)
        values[site.name] = d.sample()
        assert tuple(values[site.name].shape) == site.shape, site.name
    return values


@pytest.mark.parametrize(
    "prior",
    [
        pb.IIDNormal(2.0),
        pb.LayerwiseNormal(),
        pb.HierarchicalNormal(),
        pb.PerLayerPrior({0: dist.Laplace(0.0, 0.5), 1: dist.Normal(0.0, 0.1)}),
    ],
)
def test_sites_shapes_and_config_round_trip(prior):
    values = _sample_all(prior)
    rebuilt = prior_from_config(prior.to_config())
    assert type(rebuilt) is type(prior)
    # the rebuilt prior gives the same log density at the same values
    for a, b in zip(prior.sites(LAYERS), rebuilt.sites(LAYERS), strict=True):
        assert a.name == b.name
        torch.testing.assert_close(
            a.prior(values, LIKE).log_prob(values[a.name]),
            b.prior(values, LIKE).log_prob(values[b.name]),
        )


def test_layerwise_scales_with_fan_in():
    sites = {s.name: s for s in pb.LayerwiseNormal().sites(LAYERS)}
    d = sites["layers.0.weight"].prior({}, LIKE)
    assert torch.allclose(d.stddev, torch.tensor(1 / math.sqrt(3)))
    d = sites["layers.1.weight"].prior({}, LIKE)
    assert torch.allclose(d.stddev, torch.tensor(1 / math.sqrt(5)))
    assert torch.allclose(sites["layers.0.bias"].prior({}, LIKE).stddev, torch.tensor(1.0))


def test_hierarchical_scale_sets_weight_std_per_draw():
    sites = {s.name: s for s in pb.HierarchicalNormal().sites(LAYERS)}
    scale = torch.tensor([0.5, 2.0])  # two draws
    d = sites["layers.0.weight"].prior({"layers.0.scale": scale}, LIKE)
    assert d.batch_shape == (2,) and d.event_shape == (5, 3)
    torch.testing.assert_close(d.stddev[:, 0, 0], scale / math.sqrt(3))


def test_float64_follows_like():
    like = torch.zeros((), dtype=torch.float64)
    for prior in (
        pb.IIDNormal(),
        pb.HierarchicalNormal(),
        pb.PerLayerPrior(dist.Laplace(0.0, 1.0)),
    ):
        values = {}
        for site in prior.sites(LAYERS):
            values[site.name] = site.prior(values, like).sample()
            assert values[site.name].dtype == torch.float64


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: pb.IIDNormal(-1.0), "IIDNormal scale must be a positive number"),
        (lambda: pb.LayerwiseNormal(weight_scale=0), "weight_scale must be a positive"),
        (lambda: pb.PerLayerPrior("normal"), "must be Pyro distributions"),
        (
            lambda: pb.PerLayerPrior(dist.Normal(torch.zeros(2), 1.0)),
            "must be scalar distributions",
        ),
        (lambda: prior_from_config({"type": "Gaussian"}), "unknown prior type 'Gaussian'"),
    ],
)
def test_bad_priors(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_per_layer_prior_missing_layer():
    prior = pb.PerLayerPrior({0: dist.Normal(0.0, 1.0)})
    with pytest.raises(ValueError, match="no weight prior for layer 1"):
        prior.sites(LAYERS)
