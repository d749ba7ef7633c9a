"""sgemm: C = alpha·op(A)·op(B) + beta·C (row-major) on the CPU (OpenBLAS) and the GPU (our kernel),
against a float64 numpy reference; the GPU also against the CPU."""
import numpy as np
import pytest

from lrcn_native.backend import K
from util import HAS_GPU, needs_gpu  # noqa: F401  (one skip reason for every GPU test: gpu_check.sh looks for it)

if HAS_GPU:
    import cupy

EPS = np.finfo(np.float32).eps

# (M, N, K): odd sizes below one tile, K = 0, ragged multi-tile edges, and aligned leading dims
# (multiples of 4: the float4 paths) with ragged edges; M = 1 or N = 1 take the CPU's sgemv path (a
# vector's stride is the other operand's leading dimension when it is a stored column).
SHAPES = [(1, 1, 1), (7, 13, 5), (65, 33, 129), (4, 8, 0), (70, 62, 30), (64, 128, 256), (130, 132, 36),
          (1, 37, 53), (41, 1, 29), (1, 1, 17)]
# On a 132-SM H200 these pick each tile config of gemm.cu: 32×32 (the above), 64×64, 128×128.
GPU_CONFIG_SHAPES = [(768, 770, 20), (1536, 1540, 12)]
TRANS = [(False, False), (False, True), (True, False), (True, True)]
SCALARS = [(1.0, 0.0), (-0.5, 2.0), (1.5, 1.0)]  # (alpha, beta)


def operands(m, n, k, ta, tb, seed=0):
    """Stored A (K×M if ta else M×K), B (N×K if tb else K×N) and C (M×N), float32 in [-1, 1)."""
    rng = np.random.default_rng(seed + 1000 * m + 10 * n + k)
    a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
    c = rng.uniform(-1, 1, (m, n)).astype(np.float32)
    return a, b, c


def reference(ta, tb, alpha, a, b, beta, c):
    """float64 result and an error bound for it. An fp32 sum of K products, in any order, FMA or
    not, errs by at most γ_K·Σ|a||b| ≈ K·(eps/2)·Σ|a||b| (Higham), and Σ|a||b| <= K·max|a|·max|b|;
    scaling by alpha and adding beta·C are two more roundings. We allow (K + 2)·eps·Σ|a||b|, twice
    the worst case: a wrong transpose, index or edge gives errors of order |a||b|, far above it."""
    opa = (a.T if ta else a).astype(np.float64)
    opb = (b.T if tb else b).astype(np.float64)
    c64 = c.astype(np.float64)
    want = alpha * (opa @ opb) + (beta * c64 if beta != 0 else 0.0)
    scale = abs(alpha) * (np.abs(opa) @ np.abs(opb)) + (abs(beta) * np.abs(c64) if beta != 0 else 0.0)
    return want, (opa.shape[1] + 2) * EPS * scale + np.finfo(np.float32).tiny


def run_cpu(ta, tb, alpha, a, b, beta, c):
    out = c.copy()
    K.gemm(ta, tb, alpha, a, b, beta, out)
    return out


def run_gpu(ta, tb, alpha, a, b, beta, c):
    out = cupy.asarray(c)
    K.gemm(ta, tb, alpha, cupy.asarray(a), cupy.asarray(b), beta, out)
    K.synchronize()
    return cupy.asnumpy(out)


def assert_close(got, want, tol):
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= tol), f"max error {err.max():.3g}, worst ratio to the bound {np.max(err / tol):.3g}"


@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("alpha,beta", SCALARS)
def test_cpu_vs_float64(ta, tb, m, n, k, alpha, beta):
    a, b, c = operands(m, n, k, ta, tb)
    want, tol = reference(ta, tb, alpha, a, b, beta, c)
    assert_close(run_cpu(ta, tb, alpha, a, b, beta, c), want, tol)


@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", [(7, 13, 5), (1, 13, 5), (7, 1, 5)])  # sgemm, and sgemv both ways
def test_cpu_beta0_ignores_nan_in_c(ta, tb, m, n, k):
    a, b, c = operands(m, n, k, ta, tb)
    want, tol = reference(ta, tb, 1.0, a, b, 0.0, c)
    got = run_cpu(ta, tb, 1.0, a, b, 0.0, np.full_like(c, np.nan))
    assert_close(got, want, tol)


def test_cpu_alpha0_does_not_read_a_b():
    """alpha == 0 means C = beta·C without touching A and B (BLAS), so NaN there does not spread."""
    a, b, c = operands(9, 12, 8, False, False)
    a[0, 0] = np.nan
    np.testing.assert_array_equal(run_cpu(False, False, 0.0, a, b, 3.0, c), 3.0 * c)


def test_cpu_misaligned_views():
    """Arrays that start 4 bytes past a 16-byte boundary (the GPU's scalar-load path)."""
    m, n, k = 33, 20, 16
    a, b, c = operands(m, n, k, False, False)
    views = []
    for x in (a, b, c):
        buf = np.empty(x.size + 1, np.float32)
        v = buf[1:].reshape(x.shape)
        v[...] = x
        views.append(v)
    want, tol = reference(False, False, 1.0, a, b, 0.5, c)
    K.gemm(False, False, 1.0, views[0], views[1], 0.5, views[2])
    assert_close(views[2], want, tol)


@pytest.mark.parametrize("a_shape,b_shape,c_shape", [((3, 4), (5, 6), (3, 6)), ((3, 4), (4, 6), (3, 5))])
def test_bad_shapes_raise(a_shape, b_shape, c_shape):
    a, b, c = (np.zeros(s, np.float32) for s in (a_shape, b_shape, c_shape))
    with pytest.raises(ValueError, match="x".join(map(str, a_shape)) + r".*" + "x".join(map(str, b_shape))):
        K.gemm(False, False, 1.0, a, b, 0.0, c)


def test_not_2d_raises():
    with pytest.raises(ValueError, match="2-D"):
        K.gemm(False, False, 1.0, np.zeros(4, np.float32), np.zeros((4, 2), np.float32), 0.0,
               np.zeros((1, 2), np.float32))


@needs_gpu
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", SHAPES + GPU_CONFIG_SHAPES)
@pytest.mark.parametrize("alpha,beta", SCALARS)
def test_gpu_vs_float64_and_cpu(ta, tb, m, n, k, alpha, beta):
    a, b, c = operands(m, n, k, ta, tb)
    want, tol = reference(ta, tb, alpha, a, b, beta, c)
    got = run_gpu(ta, tb, alpha, a, b, beta, c)
    assert_close(got, want, tol)
    # Both within tol of the exact result, so within 2·tol of each other.
    assert_close(got, run_cpu(ta, tb, alpha, a, b, beta, c).astype(np.float64), 2 * tol)


@needs_gpu
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", [(7, 13, 5), (64, 128, 256), (768, 770, 20), (1536, 1540, 12)])
def test_gpu_beta0_ignores_nan_in_c(ta, tb, m, n, k):
    a, b, c = operands(m, n, k, ta, tb)
    want, tol = reference(ta, tb, 1.0, a, b, 0.0, c)
    assert_close(run_gpu(ta, tb, 1.0, a, b, 0.0, np.full_like(c, np.nan)), want, tol)


@needs_gpu
def test_gpu_alpha0_does_not_read_a_b():
    a, b, c = operands(9, 12, 8, False, False)
    a[0, 0] = np.nan
    np.testing.assert_array_equal(run_gpu(False, False, 0.0, a, b, 3.0, c), 3.0 * c)


@needs_gpu
@pytest.mark.parametrize("ta,tb", TRANS)
def test_gpu_misaligned_views(ta, tb):
    """Device arrays starting 4 bytes past a 16-byte boundary must take the scalar-load path."""
    m, n, k = 70, 68, 36
    a, b, c = operands(m, n, k, ta, tb)
    views = []
    for x in (a, b, c):
        buf = cupy.empty(x.size + 1, cupy.float32)
        v = buf[1:].reshape(x.shape)
        v[...] = cupy.asarray(x)
        views.append(v)
    want, tol = reference(ta, tb, 1.0, a, b, 0.5, c)
    K.gemm(ta, tb, 1.0, views[0], views[1], 0.5, views[2])
    K.synchronize()
    assert_close(cupy.asnumpy(views[2]), want, tol)


@needs_gpu
def test_gpu_writes_nothing_outside_c():
    """C is a block of rows inside a bigger buffer: the rows around it keep their values."""
    m, n, k = 65, 36, 20
    a, b, c = operands(m, n, k, False, False)
    buf = cupy.full((m + 2, n), 7.0, cupy.float32)
    buf[1:-1] = cupy.asarray(c)
    K.gemm(False, False, 1.0, cupy.asarray(a), cupy.asarray(b), 1.0, buf[1:-1])
    K.synchronize()
    host = cupy.asnumpy(buf)
    assert np.all(host[0] == 7.0) and np.all(host[-1] == 7.0)
    want, tol = reference(False, False, 1.0, a, b, 1.0, c)
    assert_close(host[1:-1], want, tol)
