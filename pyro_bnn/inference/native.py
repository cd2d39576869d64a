"""The NUTS transition of a BayesianMLP compiled to machine code (``jit_compile=True``).

:class:`~pyro_bnn.inference.analytic.AnalyticGradient` leaves a small network's NUTS
bound by per-call overhead: a leapfrog step is some 30 numpy calls on arrays of a few
thousand values, each costing more in dispatch than in arithmetic. :class:`NativeBNN`
runs a whole NUTS transition (the tree, every leapfrog step, the log joint and its
gradient) in C, in one call: ``native_nuts.c``, compiled once per machine with the
system C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``; ``-O3 -march=native``)
into ``$XDG_CACHE_HOME/pyro_bnn`` (default ``~/.cache/pyro_bnn``) and loaded with
:mod:`ctypes`. It computes the same log joint as :class:`AnalyticGradient` (tanh or
ReLU layers, Normal priors, and each of its likelihoods: a Gaussian with fixed or learned
noise, a heteroscedastic Gaussian, Poisson, Bernoulli or Categorical) with its own
rounding, and the same NUTS as :mod:`~pyro_bnn.inference.nuts` with its own uniform
random numbers (the momenta come from the chain's generator): a chain is reproducible
with the same seed on the same machine, but its draws differ from the numpy sampler's in
the last bits, and then more (chaotic trajectories). Where it cannot run (no C compiler,
a network without the hand-written gradient) :func:`native_problem` says why, and
``fit_nuts`` warns and keeps the numpy sampler.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..likelihoods import Bernoulli, Categorical, Gaussian, HeteroscedasticGaussian, Poisson
from .analytic import AnalyticGradient

__all__ = ["NativeBNN", "native_problem"]

SOURCE = Path(__file__).with_name("native_nuts.c")
# C's likelihood codes; a Gaussian is 0 (fixed sigma) or 1 (learned)
_LIKELIHOODS = {Bernoulli: 2, Poisson: 3, Categorical: 4, HeteroscedasticGaussian: 5}
_FLAGS = ["-O3", "-fPIC", "-shared", "-fopenmp-simd", "-fno-math-errno", "-std=c99"]
_REAL = {np.float32: "float", np.float64: "double"}


class NativeUnavailable(RuntimeError):
    """The compiled sampler cannot be built or loaded here (the message says why)."""


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyro_bnn"


def _machine_key(compiler: str) -> str:
    """Source, compiler version and CPU features: a library built with -march=native
    must never be loaded on another CPU (a shared home directory)."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(" ".join(_FLAGS).encode())
    try:
        version = subprocess.run(
            [compiler, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        version = compiler
    digest.update(version.encode())
    digest.update(platform.machine().encode())
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        flags = sorted({line for line in cpu.splitlines() if line.startswith("flags")})
        digest.update("".join(flags).encode())
    except OSError:
        digest.update(platform.processor().encode())
    return digest.hexdigest()[:16]


def _build(compiler: str, real: str, target: Path) -> None:
    """Compile into ``target`` atomically (a temporary file, then a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    defines = [f"-DREAL={real}"] + (["-DREAL_IS_FLOAT"] if real == "float" else [])
    errors = []
    # this CPU's instructions (full-width AVX-512 where there is some); fall back for
    # compilers that do not know the flags
    for arch in (["-march=native", "-mprefer-vector-width=512"], ["-march=native"], []):
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        command = [compiler, *_FLAGS, *arch, *defines, str(SOURCE), "-o", tmp, "-lm"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as error:
            done, errors = None, [*errors, str(error)]
        if done is not None and done.returncode == 0:
            os.replace(tmp, target)
            return
        if done is not None:
            errors.append(done.stderr.strip()[-2000:])
        Path(tmp).unlink(missing_ok=True)
    message = f"compiling {SOURCE.name} with {compiler} failed:\n" + "\n".join(errors)
    raise NativeUnavailable(message)


@functools.cache
def _library(real: str) -> ctypes.CDLL:
    """The compiled library for ``real`` (``"float"`` or ``"double"``), built if needed."""
    if sys.platform == "win32":
        raise NativeUnavailable("the compiled sampler is not built on Windows")
    compiler = _compiler()
    if compiler is None:
        raise NativeUnavailable("no C compiler found ($CC, cc, gcc or clang)")
    path = _cache_dir() / f"native_nuts_{real}_{_machine_key(compiler)}.so"
    if not path.exists():
        try:
            _build(compiler, real, path)
        except OSError:  # the cache is not writable: build in a private temporary folder
            path = Path(tempfile.mkdtemp(prefix="pyro_bnn_native_")) / path.name
            _build(compiler, real, path)
    library = ctypes.CDLL(str(path))
    pointer, c_int, c_double = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    library.bnn_create.restype = pointer
    library.bnn_create.argtypes = [c_int, c_int, pointer, c_int, c_int] + [pointer] * 5
    library.bnn_free.argtypes = [pointer]
    library.bnn_free.restype = None
    library.bnn_value_and_grad.argtypes = [pointer, pointer, pointer]
    library.bnn_value_and_grad.restype = c_double
    library.bnn_nuts_transition.argtypes = [pointer] * 6 + [c_double, c_int, ctypes.c_uint64]
    library.bnn_nuts_transition.argtypes += [pointer]
    library.bnn_nuts_transition.restype = c_int
    return library


def native_problem(analytic: AnalyticGradient | None) -> str | None:
    """None when :class:`NativeBNN` can run this network here (building the compiled
    code if needed), else the reason it cannot, in words."""
    if analytic is None:
        return (
            "it compiles tanh/ReLU networks with Normal priors on the CPU (the network's "
            "gradient is not hand-written)"
        )
    if not NativeBNN.supports(analytic):
        return f"it compiles float32 and float64 networks, not {analytic.y.dtype}"
    try:
        _library(_REAL[analytic.y.dtype.type])
    except (NativeUnavailable, OSError) as error:
        return str(error)
    return None


class NativeBNN:
    """A BayesianMLP's log joint, gradient and NUTS transition in compiled code.

    Built from an :class:`AnalyticGradient` (the same packed layout, data and priors);
    :meth:`supports` says which of its likelihoods are compiled. Drop-in for it as
    ``sample_nuts``'s ``value_and_grad_fn``: ``sample_nuts`` sees
    :meth:`native_transition` and runs each transition in one call. One instance must
    not be used from two threads at once.
    """

    def __init__(self, analytic: AnalyticGradient):
        if not self.supports(analytic):
            raise ValueError(
                f"NativeBNN compiles float32 and float64 networks, not {analytic.y.dtype}"
            )
        self.analytic = analytic
        dtype = analytic.y.dtype.type
        self.dtype = dtype
        self._lib = _library(_REAL[dtype])
        shapes = [shape for _, shape, *_ in analytic.layers]  # (fan_out, fan_in + 1)
        sizes = np.array([shapes[0][1] - 1] + [fan_out for fan_out, _ in shapes], dtype=np.intc)
        if analytic.likelihood is Gaussian:  # 1: learned noise (log sigma last in z)
            kind = 1 if analytic.fixed_sigma is None else 0
        else:
            kind = _LIKELIHOODS[analytic.likelihood]
        x = np.ascontiguousarray(analytic.inputs[:-1], dtype=dtype)  # (in, N)
        y = np.ascontiguousarray(analytic.y, dtype=dtype)  # (N,), or one-hot (K, N)
        loc = np.ascontiguousarray(analytic.prior_loc, dtype=dtype)
        neg_precision = np.ascontiguousarray(analytic.prior_neg_precision, dtype=dtype)
        constants = np.array(
            [
                analytic.prior_const,
                analytic.fixed_sigma or 0.0,
                getattr(analytic, "sigma_prior_var", 1.0),
                getattr(analytic, "sigma_prior_const", 0.0),
                getattr(analytic, "count_const", 0.0),
                analytic.min_scale or 0.0,
            ],
            dtype=np.float64,
        )
        self._model = self._lib.bnn_create(
            y.shape[-1], len(shapes), sizes.ctypes.data, int(not analytic.tanh), kind,
            x.ctypes.data, y.ctypes.data, loc.ctypes.data, neg_precision.ctypes.data,
            constants.ctypes.data,
        )  # fmt: skip
        if not self._model:
            raise MemoryError("NativeBNN: out of memory allocating the network's buffers")
        self.dim = analytic.num_weights + (kind == 1)
        self._log_density = np.zeros(1)
        self._stats = np.zeros(5)
        self.pack, self.unpack = analytic.pack, analytic.unpack

    @staticmethod
    def supports(analytic: AnalyticGradient) -> bool:
        """True for the dtypes the compiled code has (it has every likelihood of
        :class:`AnalyticGradient`)."""
        return analytic.y.dtype.type in _REAL and (
            analytic.likelihood is Gaussian or analytic.likelihood in _LIKELIHOODS
        )

    def __del__(self):
        model = getattr(self, "_model", None)
        if model:
            self._lib.bnn_free(model)
            self._model = None

    def value_and_grad_numpy(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        """Log joint (``-inf`` for an out-of-range noise) and gradient at packed ``z``."""
        z = np.ascontiguousarray(z, dtype=self.dtype)
        grad = np.empty_like(z)
        value = self._lib.bnn_value_and_grad(self._model, z.ctypes.data, grad.ctypes.data)
        return value, grad

    def __call__(self, z: torch.Tensor) -> tuple[float, torch.Tensor]:
        """:meth:`value_and_grad_numpy` on a torch tensor."""
        value, grad = self.value_and_grad_numpy(z.detach().cpu().numpy())
        return value, torch.from_numpy(grad)

    def in_flat_layout(self, z: torch.Tensor) -> tuple[float, torch.Tensor]:
        """:meth:`__call__` in the :class:`FlatModel` layout (gradient too)."""
        value, grad = self(self.pack(z))
        return value, self.unpack(grad)

    def native_transition(self, z, log_density, grad, r0, inverse_mass, step_size, max_depth, seed):
        """One NUTS transition -> ``(z, log_density, grad, stats)``; ``stats`` are the tree
        depth, leapfrog steps, summed acceptance, divergence (0/1) and the draw's energy."""
        z = np.array(z, dtype=self.dtype, order="C")  # new arrays: the caller keeps the old
        grad = np.array(grad, dtype=self.dtype, order="C")
        r0 = np.ascontiguousarray(r0, dtype=self.dtype)
        inverse_mass = np.ascontiguousarray(inverse_mass, dtype=self.dtype)
        self._log_density[0] = log_density
        status = self._lib.bnn_nuts_transition(
            self._model, z.ctypes.data, grad.ctypes.data, self._log_density.ctypes.data,
            r0.ctypes.data, inverse_mass.ctypes.data, float(step_size), int(max_depth),
            int(seed), self._stats.ctypes.data,
        )  # fmt: skip
        if status != 0:
            raise MemoryError("NativeBNN: out of memory in a NUTS transition")
        return z, float(self._log_density[0]), grad, self._stats.tolist()
