"""The Laplace Hessian of a BayesianMLP: pyro_bnn's against torch's vectorised Hessian.

``fit_svi(guide="laplace")`` ends with the dense Hessian of the negative log joint of the
flat weight vector (float64). Side by side, on the same point of the same network and
data (a 1-hidden-layer ReLU net with a learned Gaussian noise, 9 inputs as protein):

- ``pyro_bnn``: :func:`pyro_bnn.inference.laplace.flat_hessian`, Hessian-vector products
  of the likelihood in small blocks of directions over large blocks of rows;
- ``torch_vectorized``: what one would write with torch's API, and what pyro_bnn did
  before: ``torch.autograd.functional.hessian(vectorize=True)`` of the likelihood over
  row chunks of at most 2**24 rows x parameters x widest layer.

Both matrices are compared (largest difference relative to the largest entry).

    python bench/bench_laplace_hessian.py [--quick] [--threads 1]
"""

from __future__ import annotations

import sys

import common
import numpy as np
import pyro
import torch

import pyro_bnn as pb
from pyro_bnn.inference.flat import FlatModel
from pyro_bnn.inference.laplace import flat_hessian, hessian

SIZES = [(300, 20), (2000, 50), (10000, 100)]
QUICK_SIZES = [(50, 5), (200, 10)]


def torch_vectorized(flat: FlatModel, z: torch.Tensor, max_elements: int = 2**24):
    """Dense Hessian with ``torch.autograd.functional.hessian(vectorize=True)`` by row chunks."""
    model = flat.model
    widest = max(max(fan_in, fan_out) for fan_in, fan_out in model.layer_sizes)
    rows = max(1, max_elements // max(1, flat.dim * widest))

    def prior_part(point):
        return flat.log_prior(point, flat.unflatten(point)) + flat.log_jacobian(point)

    with pyro.validation_enabled(False):
        total = hessian(prior_part, z)
        for start in range(0, flat.x.shape[0], rows):
            x, y = flat.x[start : start + rows], flat.y[start : start + rows]
            total = total + hessian(
                lambda point, x=x, y=y: model.log_likelihood(flat.unflatten(point), x, y), z
            )
    return total


def problem(num_rows: int, hidden: int, seed: int):
    """A float64 network, its FlatModel on synthetic data, and a point near the prior."""
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(num_rows, 9)))
    y = torch.tensor(np.tanh(x.numpy() @ rng.normal(size=9)) + 0.3 * rng.normal(size=num_rows))
    model = pb.BayesianMLP(9, 1, hidden=(hidden,), activation="relu").to(dtype=torch.float64)
    flat = FlatModel(model, x, y)
    generator = torch.Generator().manual_seed(seed)
    return flat, 0.3 * torch.randn(flat.dim, dtype=torch.float64, generator=generator)


def main() -> None:
    args = common.base_parser(__doc__.splitlines()[0]).parse_args()
    threads = common.set_threads(args.threads)
    rows = []
    warm_flat, warm_z = problem(20, 3, args.seed)  # first calls pay torch's lazy set-up
    flat_hessian(warm_flat, warm_z), torch_vectorized(warm_flat, warm_z)
    for num_rows, hidden in QUICK_SIZES if args.quick else SIZES:
        flat, z = problem(num_rows, hidden, args.seed)
        ours_seconds, ours = common.time_call(lambda: flat_hessian(flat, z))  # noqa: B023
        torch_seconds, reference = common.time_call(lambda: torch_vectorized(flat, z))  # noqa: B023
        difference = float((ours - reference).abs().max() / reference.abs().max())
        rows.append(
            {
                "num_rows": num_rows,
                "hidden": hidden,
                "parameters": flat.dim,
                "pyro_bnn_seconds": round(ours_seconds, 3),
                "torch_vectorized_seconds": round(torch_seconds, 3),
                "speed_up": round(torch_seconds / ours_seconds, 2),
                "largest_relative_difference": difference,
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    result = {
        "benchmark": "laplace_hessian",
        "quick": args.quick,
        "machine": common.machine_info(threads),
        "sizes": rows,
        "goals": {"same_matrix": all(r["largest_relative_difference"] < 1e-10 for r in rows)},
    }
    common.emit(result, "laplace_hessian", args)


if __name__ == "__main__":
    main()
