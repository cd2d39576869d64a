"""Shared fixtures: small deterministic data sets and the linear-regression oracle."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def gap_data():
    """120 points of 1-D data with a gap in (-1, 1): y = sin x + 0.1 x + 0.15 eps."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-4, -1, 60), rng.uniform(1, 4, 60)])[:, None]
    y = np.sin(x[:, 0]) + 0.1 * x[:, 0] + 0.15 * rng.standard_normal(120)
    return x.astype(np.float32), y.astype(np.float32)


class LinearOracle:
    """Bayesian linear regression with known noise: exact posterior and evidence.

    Model: ``y = x @ w + b + sigma * eps`` with ``w, b ~ N(0, prior_scale^2)``.
    Latent vector order: ``[w_1 .. w_D, b]`` (sites ``layers.0.weight``, ``layers.0.bias``).
    """

    def __init__(self, num_points=30, in_features=2, sigma=0.5, prior_scale=1.0, seed=0):
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(num_points, in_features))
        true_w = rng.normal(size=in_features)
        self.y = self.x @ true_w + 0.3 + sigma * rng.normal(size=num_points)
        self.sigma, self.prior_scale = sigma, prior_scale
        phi = np.hstack([self.x, np.ones((num_points, 1))])
        self.precision = phi.T @ phi / sigma**2 + np.eye(in_features + 1) / prior_scale**2
        self.cov = np.linalg.inv(self.precision)
        self.mean = self.cov @ phi.T @ self.y / sigma**2
        evidence_cov = prior_scale**2 * phi @ phi.T + sigma**2 * np.eye(num_points)
        _, logdet = np.linalg.slogdet(evidence_cov)
        self.log_evidence = -0.5 * (
            self.y @ np.linalg.solve(evidence_cov, self.y)
            + logdet
            + num_points * math.log(2 * math.pi)
        )

    def model(self):
        import pyro_bnn as pb

        return pb.BayesianMLP(
            self.x.shape[1],
            1,
            hidden=(),
            prior=pb.IIDNormal(self.prior_scale),
            likelihood=pb.Gaussian(sigma=self.sigma),
        )

    @staticmethod
    def stack(draws) -> torch.Tensor:
        """Draws dict → ``(S, D + 1)`` in oracle order."""
        return torch.cat(
            [draws["layers.0.weight"][:, 0, :], draws["layers.0.bias"]], dim=1
        ).double()


@pytest.fixture
def linear_oracle():
    return LinearOracle()
