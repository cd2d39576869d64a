"""Library objects built from a model file: network, prior, likelihood, fit settings."""

from __future__ import annotations

import pytest

from pyro_bnn.app.spec import (
    SpecError,
    parse_spec,
)


def test_build_model_takes_sizes_from_the_data():
    from pyro_bnn.likelihoods import Bernoulli, Categorical, StudentT
    from pyro_bnn.priors import IIDNormal

    spec = parse_spec(
        {
            "model": {
                "task": "classification",
                "hidden": [5, 4],
                "prior": "iid",
                "prior_scale": 2.0,
            },
            "data": {"source": "sklearn:digits"},
        }
    )
    model = spec.build_model(in_features=64, num_classes=10)
    assert (model.in_features, model.out_features, model.hidden) == (64, 10, (5, 4))
    assert isinstance(model.likelihood, Categorical)
    assert isinstance(model.prior, IIDNormal) and model.prior.scale == 2.0
    binary = spec.with_overrides({"model.likelihood": "bernoulli"})
    model = binary.build_model(in_features=2, num_classes=2)
    assert model.out_features == 1 and isinstance(model.likelihood, Bernoulli)
    with pytest.raises(SpecError, match=r"'bernoulli' needs 2 classes but the data has 3"):
        binary.build_model(in_features=2, num_classes=3)
    robust = parse_spec(
        {
            "model": {"likelihood": "studentt", "df": 3.0, "sigma": 0.5},
            "data": {"source": "toy:gap"},
        }
    )
    likelihood = robust.build_model(in_features=1).likelihood
    assert isinstance(likelihood, StudentT) and (likelihood.df, likelihood.sigma) == (3.0, 0.5)


def test_fit_kwargs_follow_the_method():
    spec = parse_spec({"data": {"source": "toy:gap"}, "inference": {"guide": "delta"}})
    assert spec.fit_kwargs()["guide"] == "delta" and "num_samples" not in spec.fit_kwargs()
    nuts = spec.with_overrides({"inference.method": "nuts"})
    assert nuts.fit_kwargs()["num_samples"] == 500 and "guide" not in nuts.fit_kwargs()
