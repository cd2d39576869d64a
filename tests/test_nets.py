import pyro
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.nets import linear


def test_site_names_and_shapes():
    model = pb.BayesianMLP(3, 2, hidden=(5, 4), prior=pb.HierarchicalNormal())
    trace = pyro.poutine.trace(model).get_trace(torch.randn(7, 3))
    shapes = {
        name: tuple(node["value"].shape)
        for name, node in trace.nodes.items()
        if node["type"] == "sample" and name != "data"
    }
    assert shapes == {
        "layers.0.scale": (),
        "layers.0.weight": (5, 3),
        "layers.0.bias": (5,),
        "layers.1.scale": (),
        "layers.1.weight": (4, 5),
        "layers.1.bias": (4,),
        "layers.2.scale": (),
        "layers.2.weight": (2, 4),
        "layers.2.bias": (2,),
        "sigma": (),
        "obs": (7, 2),
    }
    assert model.num_params == 5 * 3 + 5 + 4 * 5 + 4 + 2 * 4 + 2 + 3 + 1


def test_linear_broadcasts_over_draws():
    x = torch.randn(6, 3)
    weight, bias = torch.randn(4, 2, 3), torch.randn(4, 2)
    out = linear(x, weight, bias)
    assert out.shape == (4, 6, 2)
    for s in range(4):
        torch.testing.assert_close(out[s], torch.nn.functional.linear(x, weight[s], bias[s]))


def test_network_for_many_draws_equals_loop():
    model = pb.BayesianMLP(2, 1, hidden=(8,), activation="relu")
    draws = {
        name: torch.stack(
            [
                pyro.poutine.trace(model).get_trace(torch.zeros(1, 2)).nodes[name]["value"]
                for _ in range(5)
            ]
        )
        for name in ("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias")
    }
    x = torch.randn(9, 2)
    batched = model.network(draws, x)
    for s in range(5):
        single = model.network({k: v[s] for k, v in draws.items()}, x)
        torch.testing.assert_close(batched[s], single)


def test_hidden_empty_is_linear_regression():
    model = pb.BayesianMLP(3, 1, hidden=(), likelihood=pb.Gaussian(sigma=0.1))
    assert model.layer_sizes == [(3, 1)]
    assert [s.name for s in model.latent_sites] == ["layers.0.weight", "layers.0.bias"]


def test_minibatch_plate_scales_likelihood():
    model = pb.BayesianMLP(1, 1, hidden=(), likelihood=pb.Gaussian(sigma=1.0))
    x, y = torch.randn(10, 1), torch.randn(10)
    trace = pyro.poutine.trace(model).get_trace(x, y, subsample=torch.tensor([0, 3]))
    trace.compute_log_prob()
    assert trace.nodes["obs"]["value"].shape == (2,)
    assert trace.nodes["obs"]["scale"] == pytest.approx(5.0)


def test_config_round_trip_and_float64():
    model = pb.BayesianMLP(2, 3, hidden=(4,), activation="gelu", likelihood=pb.Categorical())
    rebuilt = pb.BayesianMLP.from_config(model.to_config())
    assert rebuilt.to_config() == model.to_config()
    model.to(torch.float64)
    trace = pyro.poutine.trace(model).get_trace(torch.randn(3, 2, dtype=torch.float64))
    assert trace.nodes["layers.0.weight"]["value"].dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(in_features=0), ValueError, "in_features must be a positive integer"),
        (dict(in_features=1, hidden=(10, -1)), ValueError, "hidden must be a sequence"),
        (dict(in_features=1, activation="swish"), ValueError, "unknown activation 'swish'"),
        (dict(in_features=1, prior="normal"), TypeError, "prior must be a pyro_bnn Prior"),
        (dict(in_features=1, likelihood=torch.nn.MSELoss()), TypeError, "likelihood must be"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        pb.BayesianMLP(**kwargs)


def test_default_prior_is_wider_for_classification():
    """Layerwise N(0, 1/fan_in) for regression, N(0, 9/fan_in) weights for classification."""
    regression = pb.BayesianMLP(2, 1, hidden=(4,)).prior
    assert isinstance(regression, pb.LayerwiseNormal) and regression.weight_scale == 1.0
    for likelihood, out_features in ((pb.Bernoulli(), 1), (pb.Categorical(), 3)):
        prior = pb.BayesianMLP(2, out_features, hidden=(4,), likelihood=likelihood).prior
        assert isinstance(prior, pb.LayerwiseNormal)
        assert prior.weight_scale == pb.nets.CLASSIFICATION_WEIGHT_SCALE == 3.0
        assert prior.bias_scale == 1.0
    explicit = pb.BayesianMLP(2, 3, likelihood=pb.Categorical(), prior=pb.LayerwiseNormal())
    assert explicit.prior.weight_scale == 1.0  # an explicit prior is kept


@pytest.mark.slow
def test_model_vectorizes_under_pyro_plates():
    """Predictive(parallel=True) and vectorized ELBO particles work on the Pyro model."""
    from pyro.infer import Predictive, Trace_ELBO
    from pyro.infer.autoguide import AutoNormal

    from pyro_bnn.isolation import local_rng, param_scope

    model = pb.BayesianMLP(2, 1, hidden=(3,), prior=pb.HierarchicalNormal())
    x, y = torch.randn(6, 2), torch.randn(6)
    guide = AutoNormal(model)
    with param_scope(), local_rng(0):  # a store of its own: other tests' guides share names
        samples = Predictive(model, guide=guide, num_samples=5, parallel=True)(x)
        assert samples["obs"].shape == (5, 6)
        vectorized = Trace_ELBO(num_particles=4000, vectorize_particles=True, max_plate_nesting=1)
        sequential = Trace_ELBO(num_particles=400)
        a = vectorized.loss(model, guide, x, y)
        b = sequential.loss(model, guide, x, y)
    assert a == pytest.approx(b, rel=0.05)  # same objective, Monte Carlo tolerance
