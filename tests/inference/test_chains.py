"""run_chains: seeds per chain, parallel = sequential, failing chains reported, others kept."""

import functools
import os

import pytest
import torch

from pyro_bnn.inference.chains import ChainFailure, run_chains


def draw_chain(chain: int, chain_seed: int, num_draws: int, fail_chain: int = -1) -> dict:
    """A stand-in for one MCMC chain: draws from the global torch generator (seeded)."""
    if chain == fail_chain:
        raise ValueError(f"chain {chain} diverged on purpose")
    if chain == 2:
        os._exit(3)  # chain 2 kills its own process without reporting anything
    return {
        "chain": torch.tensor(chain),
        "seed": torch.tensor(chain_seed),
        "x": torch.randn(num_draws),
        "pid": torch.tensor(os.getpid()),
    }


def test_sequential_chains_are_seeded_seed_plus_chain():
    results, failures = run_chains(draw_chain, 2, seed=10, parallel=False, args=(5,))
    assert failures == []
    assert [int(r["chain"]) for r in results] == [0, 1]
    assert [int(r["seed"]) for r in results] == [10, 11]
    for chain, result in enumerate(results):
        torch.manual_seed(10 + chain)
        torch.testing.assert_close(result["x"], torch.randn(5))
    assert not torch.equal(results[0]["x"], results[1]["x"])


@pytest.mark.slow
def test_parallel_chains_equal_sequential_and_keep_survivors():
    """Spawned processes: same draws as in-process; a raising chain and a dying process are
    reported, the surviving chain is kept (one round of three processes)."""
    sequential, _ = run_chains(draw_chain, 2, seed=4, parallel=False, args=(6,))
    results, failures = run_chains(
        draw_chain, 3, seed=4, parallel=True, args=(6,), kwargs={"fail_chain": 1}, max_workers=3
    )
    assert [int(r["chain"]) for r in results] == [0]
    torch.testing.assert_close(results[0]["x"], sequential[0]["x"])
    assert int(results[0]["pid"]) != os.getpid()
    assert [(f.chain, f.seed, f.error) for f in failures] == [
        (1, 5, "ValueError"),
        (2, 6, "ProcessDied"),
    ]
    assert isinstance(failures[0], ChainFailure)
    assert "diverged on purpose" in failures[0].message
    assert "draw_chain" in failures[0].traceback
    assert "chain 1 (seed 5) failed: ValueError" in str(failures[0])
    assert "exited with code 3" in failures[1].message


@pytest.mark.slow
def test_a_worker_runs_chains_one_after_another_and_a_dead_one_is_replaced():
    """One worker at a time: chains 0 and 1 share its process (imports paid once); chain 2
    kills it, and chain 3 runs in a new worker."""
    results, failures = run_chains(draw_chain, 4, seed=0, parallel=True, args=(3,), max_workers=1)
    assert [int(r["chain"]) for r in results] == [0, 1, 3]
    pids = [int(r["pid"]) for r in results]
    assert pids[0] == pids[1] != pids[2] and os.getpid() not in pids
    assert [(f.chain, f.error) for f in failures] == [(2, "ProcessDied")]
    sequential, _ = run_chains(draw_chain, 2, seed=0, parallel=False, args=(3,))
    torch.testing.assert_close(results[1]["x"], sequential[1]["x"])  # seeded per chain


def test_sequential_failure_keeps_other_chains():
    worker = functools.partial(draw_chain, num_draws=2, fail_chain=0)
    results, failures = run_chains(worker, 2, seed=0, parallel=False)
    assert [int(r["chain"]) for r in results] == [1]
    assert [f.chain for f in failures] == [0]


def test_unpicklable_worker():
    def local_chain(chain, chain_seed):
        return {"chain": torch.tensor(chain)}

    with pytest.raises(TypeError, match="picklable run_one_chain"):
        run_chains(local_chain, 2, seed=0, parallel=True)
    if os.cpu_count() and os.cpu_count() > 1:
        with pytest.warns(RuntimeWarning, match="one after another"):
            results, failures = run_chains(local_chain, 2, seed=0, parallel="auto")
        assert len(results) == 2 and not failures


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_chains": 0}, "num_chains must be a positive integer"),
        ({"parallel": "yes"}, "parallel must be True, False or 'auto'"),
        ({"max_workers": 0}, "max_workers must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"num_chains": 2, "seed": 0, "parallel": False} | kwargs
    with pytest.raises(ValueError, match=message):
        run_chains(draw_chain, **arguments)


CHAIN_MODULE = """
import torch

def chain_fn(chain, chain_seed):
    return {"x": torch.randn(2)}
"""
SCRIPT = """
import torch
from pyro_bnn.inference.chains import run_chains
{definition}
print("script body runs")  # no __name__ guard: a worker that re-ran this would start chains too
results, failures = run_chains(chain_fn, 2, seed=0, parallel=True)
print("results", len(results))
for failure in failures:
    print("failure", failure)
"""


def _run_script(tmp_path, definition: str) -> str:
    import subprocess
    import sys

    (tmp_path / "chain_module.py").write_text(CHAIN_MODULE)
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(definition=definition))
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=repository)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_a_script_without_main_guard_runs_parallel_chains_of_importable_code(tmp_path):
    """Workers do not re-run the caller's script when nothing they get comes from it."""
    out = _run_script(tmp_path, "from chain_module import chain_fn")
    assert out.splitlines() == ["script body runs", "results 2"]


@pytest.mark.slow
def test_a_script_without_main_guard_that_defines_the_chain_gets_a_clear_failure(tmp_path):
    """A chain function defined in the script needs the script re-run in each worker; without
    a guard that fails, and the failure says what to do."""
    out = _run_script(tmp_path, CHAIN_MODULE)
    assert "results 0" in out
    failures = [line for line in out.splitlines() if line.startswith("failure")]
    assert len(failures) == 2
    assert all('if __name__ == "__main__":' in line for line in failures)


def test_a_chain_defined_in_a_notebook_is_not_sent_to_workers(monkeypatch):
    """A notebook's ``__main__`` has no file to re-run, so workers could not unpickle what is
    defined there: ``parallel=True`` says so up front, ``"auto"`` runs in this process."""
    import sys
    import types

    notebook = types.ModuleType("__main__")  # as in a Jupyter kernel: no __file__, no spec

    def notebook_chain(chain, chain_seed):
        return {"chain": torch.tensor(chain)}

    notebook_chain.__module__, notebook_chain.__qualname__ = "__main__", "notebook_chain"
    notebook.notebook_chain = notebook_chain
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    with pytest.raises(TypeError, match="defined in this interactive session"):
        run_chains(notebook_chain, 2, seed=0, parallel=True)
    monkeypatch.setattr("pyro_bnn.inference.chains.available_cores", lambda: 2)
    with pytest.warns(RuntimeWarning, match="one after another.*module file"):
        results, failures = run_chains(notebook_chain, 2, seed=0, parallel="auto")
    assert [int(r["chain"]) for r in results] == [0, 1] and not failures
