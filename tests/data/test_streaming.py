"""Streaming SVI from a DataLoader over memory-mapped .npy files, one-pass standardization."""

import re

import numpy as np
import pytest
import torch

import pyro_bnn as pb
from pyro_bnn.data.streaming import NpyDataset, make_loader, save_npy_chunks, streaming_standardizer


@pytest.fixture
def npy_files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1003, 3)) * [1.0, 5.0, 0.1] + [0.0, -3.0, 7.0]
    x[:, 2] = 7.0  # a constant column
    y = x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=1003)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "x.npy", tmp_path / "y.npy", x, y


def test_one_pass_statistics_equal_the_in_memory_standardizer(npy_files):
    x_path, y_path, x, y = npy_files
    expected = pb.Standardizer.fit(x, y)
    for source in (
        NpyDataset(x_path, y_path),  # contiguous chunks straight from the memmap
        make_loader(NpyDataset(x_path, y_path, dtype=np.float64), batch_size=100, seed=1),
    ):
        scaler = streaming_standardizer(source, chunk_rows=97)
        np.testing.assert_allclose(scaler.x_mean, expected.x_mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(scaler.x_std, expected.x_std, rtol=1e-12)
        np.testing.assert_allclose(scaler.y_mean, expected.y_mean, rtol=1e-12)
        np.testing.assert_allclose(scaler.y_std, expected.y_std, rtol=1e-12)
    assert scaler.x_std[2] == 1.0  # the constant column is only centred
    labels = streaming_standardizer(NpyDataset(x_path, y_path), task="classification")
    assert labels.task == "classification" and labels.y_std == 1.0


def test_dataset_reads_rows_and_batches_standardized(npy_files):
    x_path, y_path, x, y = npy_files
    scaler = pb.Standardizer.fit(x, y)
    data = NpyDataset(x_path, y_path, standardizer=scaler)
    assert len(data) == 1003 and data.num_features == 3
    row_x, row_y = data[5]
    np.testing.assert_allclose(row_x.numpy(), scaler.transform_x(x[5:6])[0], rtol=1e-6)
    assert row_y.dtype == torch.float32
    batch_x, batch_y = data[[9, 2, 4]]  # rows come back sorted
    np.testing.assert_allclose(batch_y.numpy(), scaler.transform_y(y[[2, 4, 9]]), rtol=1e-5)
    assert batch_x.shape == (3, 3)
    np.testing.assert_allclose(batch_x.mean(0).numpy()[2], 0.0)


def test_loader_covers_every_row_once_per_epoch_and_reshuffles(npy_files):
    x_path, y_path, _, y = npy_files
    loader = make_loader(NpyDataset(x_path, y_path, dtype=np.float64), batch_size=100, seed=3)
    assert len(loader) == 11
    epochs = [torch.cat([b[1] for b in loader]) for _ in range(2)]
    for rows in epochs:
        np.testing.assert_array_equal(np.sort(rows.numpy()), np.sort(y))
    assert not torch.equal(epochs[0], epochs[1])


def test_loader_under_torchrun_splits_rows_between_ranks(npy_files, monkeypatch):
    x_path, y_path, _, y = npy_files
    parts = []
    for rank in (0, 1):
        env = {"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}
        env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        loader = make_loader(NpyDataset(x_path, y_path, dtype=np.float64), batch_size=64, seed=0)
        parts.append(torch.cat([b[1] for b in loader]).numpy())
    assert len(parts[0]) == len(parts[1]) == 502  # padded to equal length: same step count
    np.testing.assert_array_equal(np.unique(np.concatenate(parts)), np.unique(y))


def test_one_full_batch_stream_equals_the_in_memory_fit(linear_oracle, tmp_path):
    """Same seed, one batch of all rows in order: the stream is the in-memory fit, exactly."""
    o = linear_oracle
    np.save(tmp_path / "x.npy", o.x)
    np.save(tmp_path / "y.npy", o.y)
    loader = make_loader(
        NpyDataset(tmp_path / "x.npy", tmp_path / "y.npy"), batch_size=30, shuffle=False
    )
    streamed = pb.fit_svi(o.model(), loader=loader, num_epochs=200, lr=0.02, progress=False)
    in_memory = pb.fit_svi(
        o.model(), o.x, o.y, standardize=False, num_steps=200, lr=0.02, progress=False
    )
    np.testing.assert_allclose(streamed.diagnostics["elbo"], in_memory.diagnostics["elbo"])
    assert streamed.diagnostics["num_data"] == 30
    assert len(streamed.diagnostics["epoch_elbo"]) == 200


@pytest.mark.slow
def test_minibatch_stream_recovers_the_posterior_at_full_data_scale(linear_oracle, tmp_path):
    o = linear_oracle
    np.save(tmp_path / "x.npy", o.x)
    np.save(tmp_path / "y.npy", o.y)
    loader = make_loader(NpyDataset(tmp_path / "x.npy", tmp_path / "y.npy"), batch_size=10)
    post = pb.fit_svi(o.model(), loader=loader, guide="mvn", num_epochs=1200, lr=0.01)
    assert post.diagnostics["num_steps"] == 3600
    draws = o.stack(post.sample(4000, seed=1)).numpy()
    sd = np.sqrt(np.diag(o.cov))
    # same tolerance as the in-memory minibatch test; a batch-size likelihood scale
    # (10 instead of 30 rows) would triple the variance
    np.testing.assert_allclose((draws.mean(0) - o.mean) / sd, 0, atol=0.3)
    np.testing.assert_allclose(draws.var(0) / np.diag(o.cov), 1, atol=0.3)
    epoch_elbo = post.diagnostics["epoch_elbo"]
    assert len(epoch_elbo) == 1200
    assert np.mean(epoch_elbo[-300:]) == pytest.approx(o.log_evidence, abs=1.0)


def test_progress_prints_a_line_per_epoch(linear_oracle, tmp_path, capsys):
    o = linear_oracle
    np.save(tmp_path / "x.npy", o.x)
    np.save(tmp_path / "y.npy", o.y)
    loader = make_loader(NpyDataset(tmp_path / "x.npy", tmp_path / "y.npy"), batch_size=16)
    pb.fit_svi(o.model(), loader=loader, num_epochs=3, progress=True)
    err = capsys.readouterr().err
    assert re.findall(r"epoch (\d+): 2 batches, mean ELBO -?\d", err) == ["1", "2", "3"]


def test_streaming_argument_errors(linear_oracle, tmp_path):
    o = linear_oracle
    np.save(tmp_path / "x.npy", o.x)
    np.save(tmp_path / "y.npy", o.y)
    loader = make_loader(NpyDataset(tmp_path / "x.npy", tmp_path / "y.npy"), batch_size=8)
    model = o.model()
    with pytest.raises(ValueError, match="either x, y or loader"):
        pb.fit_svi(model, o.x, o.y, loader=loader)
    with pytest.raises(ValueError, match="the batch size is the loader's"):
        pb.fit_svi(model, loader=loader, batch_size=4)
    with pytest.raises(ValueError, match="num_data must be a positive integer"):
        pb.fit_svi(model, loader=loader, num_data=0)
    with pytest.raises(ValueError, match="num_data and num_epochs go with loader"):
        pb.fit_svi(model, o.x, o.y, num_epochs=2)
    with pytest.raises(TypeError, match="x and y, or loader"):
        pb.fit_svi(model)
    with pytest.raises(TypeError, match=r"loader must yield \(x, y\) batches"):
        pb.fit_svi(model, loader=[torch.zeros(3, 2)], num_data=3, num_steps=2, progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        NpyDataset(tmp_path / "missing.npy")
    np.save(tmp_path / "y_short.npy", o.y[:5])
    with pytest.raises(ValueError, match=r"must hold \(30,\) or \(30, K\) targets"):
        NpyDataset(tmp_path / "x.npy", tmp_path / "y_short.npy")
    with pytest.raises(ValueError, match="fit on 1 columns"):
        NpyDataset(tmp_path / "x.npy", standardizer=pb.Standardizer.identity(1))


def test_save_npy_chunks_writes_one_file_without_holding_it(tmp_path):
    chunks = (np.full((4, 2), i, dtype=np.float64) for i in range(3))
    path = save_npy_chunks(tmp_path / "big.npy", chunks, num_rows=12)
    values = np.load(path)
    assert values.shape == (12, 2) and values.dtype == np.float32
    np.testing.assert_array_equal(values[:, 0], np.repeat([0, 1, 2], 4))
    with pytest.raises(ValueError, match="hold 8 rows, not num_rows=12"):
        save_npy_chunks(tmp_path / "short.npy", (np.ones((4, 2)) for _ in range(2)), 12)
    assert not (tmp_path / "short.npy").exists()


def test_batch_index_sampler_epochs_padding_and_ranks():
    from pyro_bnn.data.streaming import BatchIndexSampler

    sampler = BatchIndexSampler(10, 4, seed=1)
    assert len(sampler) == 3
    first, second = (np.concatenate(list(sampler)) for _ in range(2))
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second)  # the next pass is the next epoch
    sampler.set_epoch(0)
    np.testing.assert_array_equal(np.concatenate(list(sampler)), first)
    # 10 rows over 3 ranks: padded to 12 by wrapping, 4 rows (2 batches of 2) each
    parts = [list(BatchIndexSampler(10, 2, shuffle=False, rank=r, world_size=3)) for r in range(3)]
    assert [len(p) for p in parts] == [2, 2, 2]
    np.testing.assert_array_equal(np.concatenate(parts[0]), [0, 3, 6, 9])
    np.testing.assert_array_equal(np.concatenate(parts[1]), [1, 4, 7, 0])
    assert len(BatchIndexSampler(10, 4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        BatchIndexSampler(10, 0)
