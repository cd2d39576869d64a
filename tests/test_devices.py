"""device= on fit_svi / fit_nuts / predict / Posterior.load: every tensor follows it.

The CPU tests always run; the CUDA and MPS tests run only where that hardware exists
(skipped with the reason otherwise).
"""

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.inference.common import resolve_device
from pyro_bnn.streaming import NpyDataset, make_loader

# tiny, short fits: the collapse check runs (it must keep the model on the device) and warns
pytestmark = pytest.mark.filterwarnings("ignore::pyro_bnn.MeanFieldCollapseWarning")

GUIDES = ("normal", "lowrank", "mvn", "delta")
HAS_CUDA = torch.cuda.is_available()
HAS_MPS = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
needs_cuda = pytest.mark.skipif(
    not HAS_CUDA, reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
)
needs_mps = pytest.mark.skipif(
    not HAS_MPS, reason="needs Apple MPS (torch.backends.mps.is_available() is False)"
)


def _data(num_points=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(num_points, 1))
    return x, np.sin(x[:, 0]) + 0.1 * rng.normal(size=num_points)


def _assert_on(posterior: pb.Posterior, device: torch.device, dtype=torch.float32):
    """Model buffer, guide parameters and draws all on ``device`` with ``dtype``."""
    assert posterior.model._like.device == device and posterior.model._like.dtype == dtype
    if posterior.guide is not None:
        for name, value in posterior.guide.state_dict().items():
            assert value.device == device, name
            assert value.dtype == dtype, name
    for name, value in posterior.sample(5, seed=0).items():
        assert value.device == device, name


def _fit(guide, device, dtype=None, num_steps=30):
    x, y = _data()
    model = pb.BayesianMLP(1, 1, hidden=(4,))
    return pb.fit_svi(
        model, x, y, guide=guide, num_steps=num_steps, progress=False, device=device, dtype=dtype
    )


# --- CPU -------------------------------------------------------------------------------------


@pytest.mark.parametrize("guide", GUIDES)
@pytest.mark.slow
def test_svi_on_cpu_in_float64_keeps_every_tensor_there(guide):
    """The flat fast path, the guide handed back and the draws follow device and dtype."""
    posterior = _fit(guide, "cpu", torch.float64)
    _assert_on(posterior, torch.device("cpu"), torch.float64)
    x_new = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]  # tensors in, tensors out
    prediction = pb.predict(posterior, x_new, num_draws=20, device="cpu")
    assert prediction.mean.device.type == "cpu" and prediction.mean.dtype == torch.float64


def test_auto_picks_an_available_device():
    expected = "cuda" if HAS_CUDA else "mps" if HAS_MPS else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None) == torch.device("cpu")


@pytest.mark.parametrize("device", ["gpu0", "cuda:x", 3.5])
def test_invalid_device_names_the_choices(device):
    with pytest.raises(ValueError, match="(?s)invalid device .*use 'cpu', 'cuda', 'cuda:1', 'mps'"):
        _fit("delta", device)


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        _fit("normal", "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        pb.fit_nuts(pb.BayesianMLP(1, 1, hidden=()), *_data(), device="cuda:1", progress=False)


def test_streaming_fit_moves_each_batch_to_the_model(tmp_path):
    x, y = _data()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    loader = make_loader(NpyDataset(tmp_path / "x.npy", tmp_path / "y.npy"), batch_size=16)
    posterior = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(4,)),
        loader=loader,
        num_epochs=2,
        dtype=torch.float64,
        device="cpu",
        progress=False,
    )
    _assert_on(posterior, torch.device("cpu"), torch.float64)


@pytest.mark.slow
def test_saved_posterior_loads_on_the_requested_device(tmp_path):
    posterior = _fit("lowrank", "cpu")
    posterior.save(tmp_path / "post.pt")
    loaded = pb.Posterior.load(tmp_path / "post.pt", device="cpu")
    _assert_on(loaded, torch.device("cpu"))
    x_new = np.linspace(-1, 1, 4)[:, None]
    torch.testing.assert_close(
        pb.predict(loaded, x_new, num_draws=50, seed=2).mean,
        pb.predict(posterior, x_new, num_draws=50, seed=2).mean,
    )


def test_posterior_load_accepts_auto(tmp_path):
    _fit("delta", "cpu").save(tmp_path / "post.pt")
    loaded = pb.Posterior.load(tmp_path / "post.pt", device="auto")
    assert loaded.model._like.device.type == resolve_device("auto").type


# --- CUDA ------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("guide", GUIDES)
def test_svi_on_cuda_keeps_every_tensor_there(guide):
    posterior = _fit(guide, "cuda", num_steps=200)  # long enough for the collapse check
    _assert_on(posterior, torch.device("cuda", 0))
    x_new = torch.linspace(-1, 1, 5)[:, None]  # a CPU tensor: predict moves it to the model
    prediction = pb.predict(posterior, x_new, num_draws=20)
    assert prediction.mean.is_cuda and prediction.total_var.is_cuda


@needs_cuda
def test_cuda_posterior_loads_on_cpu_and_back(tmp_path):
    posterior = _fit("lowrank", "cuda")
    posterior.save(tmp_path / "post.pt")
    on_cpu = pb.Posterior.load(tmp_path / "post.pt", device="cpu")
    _assert_on(on_cpu, torch.device("cpu"))
    x_new = np.linspace(-1, 1, 4)[:, None]  # numpy in, numpy out from either device
    torch.testing.assert_close(
        pb.predict(on_cpu, x_new, num_draws=50, seed=2).mean,
        pb.predict(posterior, x_new, num_draws=50, seed=2).mean,
        rtol=1e-4,
        atol=1e-5,
    )
    back = pb.Posterior.load(tmp_path / "post.pt", device="cuda")
    _assert_on(back, torch.device("cuda", 0))


@needs_cuda
def test_nuts_on_cuda_keeps_draws_there():
    posterior = pb.fit_nuts(
        pb.BayesianMLP(1, 1, hidden=()),
        *_data(),
        num_samples=20,
        warmup_steps=20,
        device="cuda",
        progress=False,
    )
    assert all(value.is_cuda for value in posterior.draws.values())
    assert pb.predict(posterior, torch.zeros((3, 1))).mean.is_cuda


@needs_cuda
def test_streaming_on_cuda(tmp_path):
    x, y = _data()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    loader = make_loader(NpyDataset(tmp_path / "x.npy", tmp_path / "y.npy"), batch_size=16)
    posterior = pb.fit_svi(
        pb.BayesianMLP(1, 1, hidden=(4,)), loader=loader, num_epochs=2, device="cuda"
    )
    _assert_on(posterior, torch.device("cuda", 0))


# --- MPS -------------------------------------------------------------------------------------


@needs_mps
@pytest.mark.parametrize("guide", GUIDES)
def test_svi_on_mps(guide):
    posterior = _fit(guide, "mps")
    _assert_on(posterior, torch.device("mps", 0))


def test_predict_on_another_device_leaves_the_posterior_where_it_was(monkeypatch):
    posterior = _fit("delta", "cpu")
    model = posterior.model
    moves = []
    original_to = type(model).to

    def spy(self, *args, **kwargs):
        moves.append(args[0] if args else kwargs.get("device"))
        return original_to(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "to", spy)
    pb.predict(posterior, np.zeros((3, 1)), num_draws=5, device="cpu")
    assert [torch.device(d) for d in moves] == [torch.device("cpu")] * 2  # there and back
    moves.clear()
    pb.predict(posterior, np.zeros((3, 1)), num_draws=5)
    assert moves == []  # no device given: nothing moves
