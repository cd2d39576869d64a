"""Data-parallel SVI: two gloo processes on CPU reach the one-process posterior and ELBO scale."""

import json
import sys
import textwrap

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn import distributed

from .conftest import LinearOracle

WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    import pyro_bnn as pb
    from pyro_bnn import distributed

    data = np.load(sys.argv[1])
    out = sys.argv[2]
    model = pb.BayesianMLP(
        2, 1, hidden=(), prior=pb.IIDNormal(1.0), likelihood=pb.Gaussian(sigma=0.5)
    )
    post = pb.fit_svi(model, data["x"], data["y"], **json.loads(sys.argv[3]))
    rank = distributed.get_rank()
    loc = post.guide.state_dict()["loc"].tolist()
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump({"world_size": post.diagnostics.get("world_size"), "loc": loc}, f)
    # streaming under torchrun: make_loader gives rank r rows r, r + 2, ...
    # (unshuffled), the same rows as the in-memory shard, so the two fits are identical
    from pyro_bnn.streaming import NpyDataset, make_loader

    short = {"num_steps": 100, "progress": False, "check_collapse": False}
    in_memory = pb.fit_svi(model, data["x"], data["y"], standardize=False, **short)
    dataset = NpyDataset(f"{out}/x.npy", f"{out}/y.npy")
    loader = make_loader(dataset, batch_size=15, shuffle=False)
    streamed = pb.fit_svi(model, loader=loader, **short)
    if distributed.is_main_process():
        prediction = pb.predict(post, data["x_test"], num_draws=4000, seed=1)
        np.savez(
            f"{out}/result.npz",
            mean=np.asarray(prediction.mean),
            var=np.asarray(prediction.epistemic_var),
            elbo=np.array(post.diagnostics["elbo"]),
            elbo_in_memory=np.array(in_memory.diagnostics["elbo"]),
            elbo_streamed=np.array(streamed.diagnostics["elbo"]),
        )
    """
)
FIT = {
    "standardize": False,
    "guide": "mvn",
    "num_steps": 1000,
    "lr": 0.03,
    "num_particles": 8,
    "progress": False,
}


def _exact_predictive(oracle: LinearOracle, x_test: np.ndarray):
    phi = np.hstack([x_test, np.ones((len(x_test), 1))])
    return phi @ oracle.mean, np.einsum("nd,de,ne->n", phi, oracle.cov, phi)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    """torchrun (via launch) with 2 CPU processes: each fits on half the rows, the
    likelihood keeps the full N, gradients are averaged. Same posterior predictive and
    ELBO scale as one process and as the exact posterior (a missing N/shard scale would
    double the variance and halve the ELBO; unsynchronised ranks would differ). A
    streamed fit under torchrun (make_loader splits the rows) repeats the in-memory one."""
    oracle = LinearOracle()
    x_test = np.stack([np.linspace(-3, 3, 7), np.linspace(2, -2, 7)], axis=1)
    np.savez(tmp_path / "data.npz", x=oracle.x, y=oracle.y, x_test=x_test)
    np.save(tmp_path / "x.npy", oracle.x)
    np.save(tmp_path / "y.npy", oracle.y)
    (tmp_path / "worker.py").write_text(WORKER)
    code = distributed.launch(
        [str(tmp_path / "worker.py"), str(tmp_path / "data.npz"), str(tmp_path), json.dumps(FIT)],
        nproc=2,
        module=None,
    )
    assert code == 0
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    np.testing.assert_array_equal(ranks[0]["loc"], ranks[1]["loc"])  # ranks stay in step
    two = np.load(tmp_path / "result.npz")

    one_post = pb.fit_svi(oracle.model(), oracle.x, oracle.y, **FIT)
    one = pb.predict(one_post, x_test, num_draws=4000, seed=1)
    exact_mean, exact_var = _exact_predictive(oracle, x_test)
    sd = np.sqrt(exact_var)
    # Monte Carlo error of 4000 draws: 0.016 sd (means), 2.2% (variances); the rest of
    # the slack is the optimisation noise of 1000 Adam steps (about 0.15 sd)
    for mean, var in (
        (np.asarray(one.mean), np.asarray(one.epistemic_var)),
        (two["mean"], two["var"]),
    ):
        np.testing.assert_allclose((mean - exact_mean) / sd, 0, atol=0.35)
        np.testing.assert_allclose(var / exact_var, 1, atol=0.2)
    np.testing.assert_allclose((two["mean"] - np.asarray(one.mean)) / sd, 0, atol=0.4)
    np.testing.assert_allclose(two["var"] / np.asarray(one.epistemic_var), 1, atol=0.25)
    # ELBO scale: the reported (rank-averaged) ELBO is the full-data ELBO = log evidence
    elbo_one = np.mean(one_post.diagnostics["elbo"][-200:])
    elbo_two = np.mean(two["elbo"][-200:])
    assert elbo_one == pytest.approx(oracle.log_evidence, abs=0.25)
    assert elbo_two == pytest.approx(oracle.log_evidence, abs=0.25)
    assert len(two["elbo"]) == FIT["num_steps"]
    assert len(two["elbo_streamed"]) == 100
    np.testing.assert_allclose(two["elbo_streamed"], two["elbo_in_memory"], rtol=1e-6)


def test_shard_is_strided_and_covers_every_row():
    x, y = torch.arange(14.0).reshape(7, 2), torch.arange(7.0)
    parts = [distributed.shard(x, y, rank, 3) for rank in range(3)]
    assert [p[1].tolist() for p in parts] == [[0.0, 3.0, 6.0], [1.0, 4.0], [2.0, 5.0]]
    torch.testing.assert_close(parts[1][0], x[[1, 4]])
    with pytest.raises(ValueError, match="cannot split 7 rows over 8 processes"):
        distributed.shard(x, y, 0, 8)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 3\)"):
        distributed.shard(x, y, 3, 3)


def test_rank_seeds_differ_and_are_reproducible():
    seeds = {distributed.rank_seed(seed, rank) for seed in range(3) for rank in range(4)}
    assert len(seeds) == 12
    assert distributed.rank_seed(5, 1) == distributed.rank_seed(5, 1)
    torch.manual_seed(distributed.rank_seed(5, 1))  # a valid torch seed


def test_launch_command(monkeypatch):
    argv = ["fit", "model.toml", "--nproc", "4", "--seed", "1", "--nproc=4"]
    command = distributed.launch_command(argv, 4)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[3:] == [
        "--nproc-per-node=4",
        "--standalone",
        "-m",
        "pyro_bnn",
        "fit",
        "model.toml",
        "--seed",
        "1",
    ]
    multi = distributed.launch_command(
        ["train.py"], 8, module=None, nnodes=2, node_rank=1, rdzv_endpoint="host:29400"
    )
    assert multi[3:] == [
        "--nproc-per-node=8",
        "--nnodes=2",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=host:29400",
        "--rdzv-id=pyro_bnn",
        "--node-rank=1",
        "train.py",
    ]
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        distributed.launch_command(["fit"], 2, nnodes=2)
    with pytest.raises(ValueError, match="nproc must be a positive integer"):
        distributed.launch_command(["fit"], 0)


def test_environment_detection(monkeypatch):
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not distributed.under_torchrun()
    assert distributed.get_rank() == 0 and distributed.get_world_size() == 1
    assert distributed.is_main_process()
    assert distributed.setup("auto") is None
    assert distributed.setup(False) is None
    with pytest.raises(ValueError, match="distributed=True needs a torchrun launch"):
        distributed.setup(True)
    with pytest.raises(ValueError, match="distributed must be True, False or 'auto'"):
        distributed.setup("yes")
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert distributed.under_torchrun()
    assert distributed.get_rank() == 1 and distributed.get_world_size() == 2
    assert not distributed.is_main_process()
    # distributed=False ignores the launch: a plain single-process fit
    post = pb.fit_svi(
        LinearOracle().model(),
        LinearOracle().x,
        LinearOracle().y,
        num_steps=5,
        progress=False,
        distributed=False,
    )
    assert "world_size" not in post.diagnostics
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed.under_torchrun()


def test_distributed_user_model_is_refused(monkeypatch):
    import pyro
    import pyro.distributions as dist

    def model(x, y=None):
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", dist.Normal(w * x[:, 0], 1.0), obs=y)

    monkeypatch.setattr(distributed, "setup", lambda mode, device: _FakeContext())
    with pytest.raises(ValueError, match="distributed SVI needs a BayesianMLP"):
        pb.fit_svi(model, np.zeros((4, 1)), np.zeros(4), num_steps=2, progress=False)


class _FakeContext:
    rank, world_size, local_rank, backend = 0, 2, 0, "gloo"
    device = torch.device("cpu")
    is_main = True


@pytest.mark.slow
def test_cli_fit_nproc_launches_torchrun_and_rank_zero_writes(tmp_path):
    import subprocess

    out = tmp_path / "run"
    command = [sys.executable, "-m", "pyro_bnn", "fit", "linear_regression", "--method", "svi"]
    command += ["--nproc", "2", "--out", str(out), "--set", "inference.num_steps=100", "--quiet"]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.count("wrote ") == 1  # rank 0 alone reports and writes
    posterior = pb.Posterior.load(out / "posterior.pt")
    assert posterior.diagnostics["world_size"] == 2
    assert len(posterior.diagnostics["elbo"]) == 100
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders


def test_cli_nproc_refuses_nuts(tmp_path, capsys):
    from pyro_bnn.app.cli import main

    code = main(["fit", "linear_regression", "--nproc", "2", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "--nproc splits an SVI fit over processes" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
