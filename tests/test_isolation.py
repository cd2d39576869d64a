"""Every Posterior owns its state; library calls leave global RNGs and the param store alone.

These tests deliberately do not rely on a clean global parameter store: they put
values of their own in it and check that they survive.
"""

import random

import numpy as np
import pyro
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.isolation import local_rng, own_copies, param_scope


@pytest.fixture
def line():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1))
    return x, 1.5 * x[:, 0] + 0.3 * rng.normal(size=40)


def _global_rng_states():
    return (
        torch.get_rng_state().clone(),
        np.random.get_state()[1].copy(),
        random.getstate(),
    )


def _assert_same_states(before, after):
    assert torch.equal(before[0], after[0])
    assert np.array_equal(before[1], after[1])
    assert before[2] == after[2]


X_NEW = np.array([[2.0], [-1.0]])


@pytest.mark.parametrize("guide", ["normal", "lowrank", "mvn", "delta"])
@pytest.mark.slow
def test_two_fits_a_load_of_another_size_and_predictions_stay_independent(line, tmp_path, guide):
    x, y = line
    pyro.param("users_own", torch.tensor(5.0))  # the user's store must survive everything
    store_before = set(pyro.get_param_store().keys())
    before = _global_rng_states()
    settings = dict(guide=guide, num_steps=1000, progress=False)
    a = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=()), x, y, **settings)
    mean_a = pb.predict(a, X_NEW).mean
    b = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=()), x, -y, **settings)
    mean_b = pb.predict(b, X_NEW).mean
    assert mean_a[0] > 2 and mean_b[0] < -2  # each fit found its own answer
    c = pb.fit_svi(pb.BayesianMLP(1, 1, hidden=(3,)), x, y, check_collapse=False, **settings)
    mean_c = pb.predict(c, X_NEW).mean
    a.save(tmp_path / "a.pt")
    c.save(tmp_path / "c.pt")
    loaded_c = pb.Posterior.load(tmp_path / "c.pt")  # another network size, same process
    loaded_a = pb.Posterior.load(tmp_path / "a.pt")
    for post, mean in ((a, mean_a), (b, mean_b), (c, mean_c), (loaded_a, mean_a)):
        np.testing.assert_array_equal(pb.predict(post, X_NEW).mean, mean)
    np.testing.assert_array_equal(pb.predict(loaded_c, X_NEW).mean, mean_c)
    _assert_same_states(before, _global_rng_states())
    assert set(pyro.get_param_store().keys()) == store_before
    assert float(pyro.param("users_own").detach()) == 5.0


def test_nuts_and_predict_leave_global_rngs_alone_and_seed_reproduces(line):
    x, y = line
    before = _global_rng_states()
    settings = dict(num_samples=50, warmup_steps=50, progress=False)
    first = pb.fit_nuts(pb.BayesianMLP(1, 1, hidden=()), x, y, seed=3, **settings)
    again = pb.fit_nuts(pb.BayesianMLP(1, 1, hidden=()), x, y, seed=3, **settings)
    _assert_same_states(before, _global_rng_states())
    for name, value in first.draws.items():
        torch.testing.assert_close(value, again.draws[name])
    pred = pb.predict(first, X_NEW)
    pred.sample(10)
    pred.hpdi()
    _assert_same_states(before, _global_rng_states())


def test_fitting_does_not_change_the_callers_model(line):
    x, y = line
    model = pb.BayesianMLP(1, 1, hidden=(2,))
    post = pb.fit_svi(
        model, x, y, num_steps=5, dtype=torch.float64, progress=False, check_collapse=False
    )
    assert model._like.dtype == torch.float32  # the caller's model keeps its dtype
    assert post.model is not model and post.model._like.dtype == torch.float64


def test_local_rng_restores_and_reproduces():
    before = _global_rng_states()
    with local_rng(5):
        first = (torch.rand(3), np.random.rand(3), random.random())
    with local_rng(5):
        second = (torch.rand(3), np.random.rand(3), random.random())
    _assert_same_states(before, _global_rng_states())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2]
    with pytest.raises(TypeError, match="seed must be an integer"):
        with local_rng(1.5):
            pass


def test_param_scope_keeps_the_callers_store():
    pyro.param("outer", torch.tensor(1.0))
    before = set(pyro.get_param_store().keys())
    with param_scope() as state:
        assert "outer" not in pyro.get_param_store()
        pyro.param("inner", torch.tensor(2.0))
    assert set(pyro.get_param_store().keys()) == before
    assert list(state["params"]) == ["inner"]
    with param_scope(state):
        assert float(pyro.param("inner")) == 2.0


def test_own_copies_keeps_the_users_autoguide_working():
    from pyro.infer.autoguide import AutoNormal

    model = pb.BayesianMLP(1, 1, hidden=())
    guide = AutoNormal(model)
    model_copy, guide_copy = own_copies(model, guide)
    x, y = model.example_data()
    with param_scope():  # Pyro's deepcopy would have dropped the model reference
        guide(x, y)
    with param_scope():  # each in a store of its own, as the library runs them
        guide_copy(x, y)
    # the copy's prototype was traced from the copied model: no tensor is shared
    original = {name: p for name, p in guide.named_parameters()}
    for name, value in guide_copy.named_parameters():
        assert value is not original[name]
    assert guide.model.args[-1] is model  # AutoNormal wraps the model in an InitMessenger
    assert guide_copy.model.args[-1] is model_copy
