"""gemm and axpy called in numpy's own OpenBLAS compute what numpy computes, in place, for every operand layout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlupdate.reference import blas
from mlupdate.reference.dense_chain import DenseChain
from mlupdate.reference.network import Network
from mlupdate.reference.optimizers import Sgd

pytestmark = pytest.mark.skipif(not blas.available(), reason="numpy's BLAS here is not an OpenBLAS")

LAYOUTS = {
    "c": lambda a: np.ascontiguousarray(a),
    "f": lambda a: np.asfortranarray(a),
    "strided": lambda a: np.repeat(a, 2, axis=1)[:, ::2],  # neither: copied first
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout_a", list(LAYOUTS))
@pytest.mark.parametrize("layout_b", list(LAYOUTS))
@pytest.mark.parametrize("shape", [(3, 5, 4), (1, 7, 2), (6, 1, 3), (33, 130, 17)])
def test_gemm_is_alpha_a_b_plus_beta_c_in_place(
    dtype: type[np.floating[Any]], layout_a: str, layout_b: str, shape: tuple[int, int, int]
) -> None:
    m, k, n = shape
    rng = np.random.default_rng(sum(shape))
    a, b = (LAYOUTS[layout](rng.normal(size=s).astype(dtype)) for layout, s in ((layout_a, (m, k)), (layout_b, (k, n))))
    c = rng.normal(size=(m, n)).astype(dtype)
    expected = -0.25 * (a.astype(np.float64) @ b.astype(np.float64)) + 0.5 * c
    address = c.ctypes.data
    blas.gemm(-0.25, a, b, 0.5, c)
    assert c.ctypes.data == address
    np.testing.assert_allclose(c, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_gemm_with_beta_zero_does_not_read_its_destination() -> None:
    a, b = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    c = np.full((4, 2), np.nan, np.float32)
    blas.gemm(1.0, a, b, 0.0, c)
    assert (c == 3).all()


def test_gemm_refuses_what_it_cannot_write_in_place() -> None:
    a, b = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match="C-contiguous: False"):
        blas.gemm(1.0, a, b, 0.0, np.ones((2, 4), np.float32).T)
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        blas.gemm(1.0, a, b, 0.0, np.ones((5, 2), np.float32))
    with pytest.raises(TypeError, match="float64"):
        blas.gemm(1.0, a, b, 0.0, np.ones((4, 2), np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_axpy_adds_alpha_x_in_place(dtype: type[np.floating[Any]]) -> None:
    x = np.arange(12, dtype=dtype).reshape(3, 4)
    y = np.ones((3, 4), dtype)
    blas.axpy(-2.0, x, y)
    assert (y == 1 - 2 * x).all()
    with pytest.raises(ValueError, match="one shape"):
        blas.axpy(1.0, x, np.ones((4, 3), dtype))


def test_without_an_openblas_the_chain_keeps_the_separate_update(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlupdate._coreml import NeuralNetworkBuilder, SgdParams, datatypes

    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("probs", None)], mode="classifier")
    builder.add_inner_product("d", np.ones((2, 3)), np.zeros(2), 3, 2, True, "x", "logits")
    builder.add_softmax("sm", "logits", "probs")
    builder.set_class_labels([0, 1], predicted_feature_name="label", prediction_blob="probs")
    builder.make_updatable(["d"])
    builder.set_categorical_cross_entropy_loss("loss", input="probs")
    builder.set_sgd_optimizer(SgdParams(lr=0.1, batch=2))
    network = Network(builder.spec, dtype=np.float32)
    frontier = {"x": np.ones((4, 3, 1, 1), np.float32)}
    params = {name: dict(arrays) for name, arrays in network.params.items()}
    sgd = Sgd(0.1, 0.0)
    folded = DenseChain.plan(network, frontier, params, 2, sgd)
    assert folded is not None and folded.fused is sgd
    monkeypatch.setattr(blas, "available", lambda: False)
    separate = DenseChain.plan(network, frontier, params, 2, sgd)
    assert separate is not None and separate.fused is None


def test_the_routines_are_those_of_numpys_blas_so_the_trainers_thread_limit_reaches_them() -> None:
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    routines = blas._routines()
    assert routines is not None
    limited = {info["filepath"] for info in threadpool_info() if info["user_api"] == "blas"}
    assert routines.library in limited
    numpys = [path for path in limited if "numpy" in path]
    assert not numpys or routines.library in numpys


class _FakeSymbol:
    def __init__(self, value: bytes | None = None) -> None:
        self.value = value

    def __call__(self, *args: Any) -> bytes | None:
        return self.value


class _FakeLibrary:
    """An OpenBLAS as ctypes sees it: symbols named `prefix + name + suffix`, and a config string."""

    def __init__(self, prefix: str, suffix: str, config: bytes) -> None:
        names = ("cblas_sgemm", "cblas_dgemm", "cblas_saxpy", "cblas_daxpy")
        self.symbols = {f"{prefix}{name}{suffix}": _FakeSymbol() for name in names}
        self.symbols[f"{prefix}openblas_get_config{suffix}"] = _FakeSymbol(config)

    def __getattr__(self, name: str) -> _FakeSymbol:
        try:
            return self.symbols[name]
        except KeyError:
            raise AttributeError(name) from None


@pytest.mark.parametrize(
    ("prefix", "suffix", "config", "width"),
    [
        ("scipy_", "64_", b"OpenBLAS 0.3.31 USE64BITINT DYNAMIC_ARCH Haswell", 64),
        ("", "", b"OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen", 32),
        ("", "", b"OpenBLAS 0.3.21 USE64BITINT Zen", 64),  # an ILP64 build without suffixed names
    ],
)
def test_the_integer_width_is_read_from_the_librarys_own_config(
    prefix: str, suffix: str, config: bytes, width: int
) -> None:
    import ctypes

    library: Any = _FakeLibrary(prefix, suffix, config)
    if prefix or suffix:
        assert blas._bind(library, "", "", "libopenblas.so") is None  # plain names are not this library's
    routines = blas._bind(library, prefix, suffix, "libopenblas.so")
    assert routines is not None
    assert ctypes.sizeof(routines.index) * 8 == width
    assert routines.gemm[np.dtype(np.float32)] is library.symbols[f"{prefix}cblas_sgemm{suffix}"]
