"""BLAS gemm and axpy with their own scaling, C = alpha A B + beta C, from the OpenBLAS numpy already runs.

numpy's `matmul` can only write A B: an SGD step then needs the gradient in a buffer of its own and two more
passes over the weights (`g = lr * g`, `w -= g`). gemm takes alpha and beta, so `w = -lr (g^T x) + w` is one
call that reads and writes the weights once and never stores the gradient. numpy does not expose alpha and
beta, so the routines are called through ctypes in the OpenBLAS numpy loaded (found by threadpoolctl): the
same library, kernel and thread pool as every `matmul` of the trainer, so the trainer's thread limit covers
them. Its symbols are looked up as the OpenBLAS builds name them (numpy's wheels: `scipy_cblas_sgemm64_`; a
system OpenBLAS: `cblas_sgemm`), and the integer width is read from `openblas_get_config()`. Without an
OpenBLAS (numpy on Accelerate, MKL or BLIS) `available()` is False and callers keep numpy's products.

The results are the same mathematics in another float32 rounding: gemm adds alpha times its float32 sum into
C with one rounding, where the numpy form rounds the product, then lr times it, then the difference.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

Array = np.ndarray[Any, Any]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (prefix, suffix) of the cblas symbols: numpy's and scipy's wheels (scipy-openblas64/32), then plain builds.
_NAMINGS = (("scipy_", "64_"), ("scipy_", ""), ("", "64_"), ("", ""))


@dataclass(frozen=True)
class _Routines:
    gemm: dict[np.dtype[Any], Any]  # dtype -> cblas_?gemm
    axpy: dict[np.dtype[Any], Any]  # dtype -> cblas_?axpy
    index: type[ctypes.c_int] | type[ctypes.c_int64]
    library: str


def _bind(lib: ctypes.CDLL, prefix: str, suffix: str, path: str) -> _Routines | None:
    try:
        config = getattr(lib, f"{prefix}openblas_get_config{suffix}")
        symbols = {kind: getattr(lib, f"{prefix}cblas_{kind}{suffix}") for kind in ("sgemm", "dgemm", "saxpy", "daxpy")}
    except AttributeError:
        return None
    config.restype = ctypes.c_char_p
    index = ctypes.c_int64 if b"USE64BITINT" in (config() or b"") else ctypes.c_int
    gemm, axpy = {}, {}
    for letter, dtype, scalar in (("s", np.float32, ctypes.c_float), ("d", np.float64, ctypes.c_double)):
        g = symbols[f"{letter}gemm"]
        g.argtypes = [ctypes.c_int] * 3 + [index] * 3 + [scalar, ctypes.c_void_p, index, ctypes.c_void_p, index]
        g.argtypes += [scalar, ctypes.c_void_p, index]
        g.restype = None
        a = symbols[f"{letter}axpy"]
        a.argtypes = [index, scalar, ctypes.c_void_p, index, ctypes.c_void_p, index]
        a.restype = None
        gemm[np.dtype(dtype)], axpy[np.dtype(dtype)] = g, a
    return _Routines(gemm, axpy, index, path)


@functools.cache
def _routines() -> _Routines | None:
    """The cblas routines of numpy's OpenBLAS (of any loaded OpenBLAS if numpy's cannot be told apart)."""
    libraries = [info for info in threadpool_info() if info.get("internal_api") == "openblas"]
    libraries.sort(key=lambda info: "numpy" not in info["filepath"])
    for info in libraries:
        lib = ctypes.CDLL(info["filepath"])
        for prefix, suffix in _NAMINGS:
            routines = _bind(lib, prefix, suffix, info["filepath"])
            if routines is not None:
                return routines
    return None


def available() -> bool:
    """Whether numpy runs on an OpenBLAS whose gemm and axpy this module can call."""
    return _routines() is not None


def _row_major(operand: Array) -> tuple[Array, int, int]:
    """(array, transpose flag, leading dimension) of `operand` as row-major cblas reads it without a copy."""
    if not operand.flags.c_contiguous and not operand.flags.f_contiguous:
        operand = np.ascontiguousarray(operand)
    if operand.flags.c_contiguous:
        return operand, _NO_TRANS, max(1, operand.shape[1])
    return operand, _TRANS, max(1, operand.shape[0])


def gemm(alpha: float, a: Array, b: Array, beta: float, c: Array) -> None:
    """c = alpha (a @ b) + beta c, in place: `c` C-contiguous, `a` and `b` of c's dtype, C- or F-contiguous (or
    copied). beta 0 never reads `c`."""
    routines = _routines()
    if routines is None:
        raise RuntimeError("no OpenBLAS gemm to call: check blas.available() first")
    m, k = a.shape
    n = b.shape[1]
    if c.shape != (m, n) or b.shape[0] != k or not c.flags.c_contiguous or not c.flags.writeable:
        contiguous = c.flags.c_contiguous
        raise ValueError(f"gemm of {a.shape} and {b.shape} into a {c.shape} array (C-contiguous: {contiguous})")
    if not a.dtype == b.dtype == c.dtype:
        raise TypeError(f"gemm operands of one dtype, not {a.dtype}, {b.dtype} and {c.dtype}")
    a, trans_a, lda = _row_major(a)
    b, trans_b, ldb = _row_major(b)
    routines.gemm[c.dtype](
        _ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta, c.ctypes.data,
        max(1, n),
    )  # fmt: skip


def axpy(alpha: float, x: Array, y: Array) -> None:
    """y += alpha x, in place, in one pass; `x` and `y` C-contiguous, of one shape and dtype."""
    routines = _routines()
    if routines is None:
        raise RuntimeError("no OpenBLAS axpy to call: check blas.available() first")
    if x.shape != y.shape or x.dtype != y.dtype or not (x.flags.c_contiguous and y.flags.c_contiguous):
        raise ValueError(f"axpy of {x.shape} {x.dtype} into {y.shape} {y.dtype}: both C-contiguous, one shape")
    if not y.flags.writeable:
        raise ValueError("axpy into a read-only array")
    routines.axpy[y.dtype](y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
