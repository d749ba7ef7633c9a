"""What a first GPU run must show: our SGEMM in each of its tile configurations, the layers at the paper's
real sizes, the kernels on a non-default stream, bad labels and indices reported by the layer that met
them, and recovery after a failed CUDA call. GPU results are compared with the CPU path (the reference),
or with float64 for the GEMM. Tests named `small` are the quick ones benchmarks/gpu_check.sh runs under
compute-sanitizer. Without a GPU they skip (the tests at the end check the host side of the same code)."""
import re

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.backend import K
from lrcn_native.layer import LayerError, TRAIN
from lrcn_native.proto.text import parse
from util import HAS_GPU, make_layer, needs_gpu, run_layer, setup_layer

if HAS_GPU:
    import cupy


@pytest.fixture
def gpu_mode():
    caffe.set_mode_gpu()
    yield
    caffe.set_mode_cpu()


def rel_err(got, want):
    """‖got − want‖ / ‖want‖ in float64; a NaN anywhere makes it NaN (which fails every bound)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


# --- GEMM -------------------------------------------------------------------------------------------
def tile_config_shapes(sms):
    """(M, N) that make gemm_gpu pick each tile configuration (csrc/gemm.h's gemm_plan: the 128×128 tile when
    it gives every SM a block, else 64×64 if that does, else 32×32, split along K when K is long) on a GPU
    with `sms` multiprocessors; N odd so that B's and C's row strides are not multiples of 4 (the scalar
    edge paths)."""
    return {"128x128": (128 * sms, 129), "64x64": (64 * sms, 65), "32x32": (24, 1025)}


def test_tile_config_shapes_pick_each_config():
    for sms in (132, 20):
        for name, (m, n) in tile_config_shapes(sms).items():
            tile, _, _ = K.gemm_plan(m, n, 1003, sms)
            assert f"{tile}x{tile}" == name


SPLIT_SHAPES = {"lstm step data gradient": (24, 256, 1024), "hybrid conv1 weight gradient, 4 frames": (96, 147, 4 * 111 * 111),
                "32x32 config at K 1003": (24, 1025, 1003)}


@pytest.mark.parametrize("sms", [132, 20])
def test_gemm_plan_splits_skinny_products_into_chunks_that_tile_k(sms):
    for name, (m, n, k) in SPLIT_SHAPES.items():
        tile, splits, chunk = K.gemm_plan(m, n, k, sms)
        assert tile == 32 and 2 <= splits <= 16, name
        assert chunk % 16 == 0 and chunk >= 128, name  # whole k-tiles of 16, at least 8 per split
        assert (splits - 1) * chunk < k <= splits * chunk, name  # every split non-empty, K covered
        tiles = -(-m // 32) * -(-n // 32)
        assert tiles * splits <= 2 * sms + tiles, name  # about two blocks per SM, not more
    assert K.gemm_plan(24, 256, 1024, 132, alpha=0.0)[1] == 1  # alpha 0 reads neither A nor B
    assert K.gemm_plan(24, 256, 200, 132)[1] == 1  # too short to split
    assert K.gemm_plan(4096, 4096, 4096, 132) == (128, 1, 4096)


def test_split_k_partition_emulated_on_the_host():
    # What the GPU does with a plan, in numpy: float32 partials over each split's k range, summed in
    # order, then alpha and beta; against float64.
    rng = np.random.default_rng(3)
    m, n, k = 24, 256, 1024
    a, b, c = (rng.uniform(-1, 1, s).astype(np.float32) for s in ((m, k), (k, n), (m, n)))
    _, splits, chunk = K.gemm_plan(m, n, k, 132)
    parts = [a[:, s * chunk:min(k, (s + 1) * chunk)] @ b[s * chunk:min(k, (s + 1) * chunk)] for s in range(splits)]
    got = np.float32(0.5) * sum(parts[1:], parts[0]) + np.float32(2) * c
    want = 0.5 * (a.astype(np.float64) @ b) + 2 * c
    assert np.abs(got - want).max() <= 1e-5 * (np.abs(a) @ np.abs(b)).max()


def gemm_on_gpu(ta, tb, k, m, n, offset, rng):
    """C = A·B (+ 0.5·C) on the GPU from operands whose device copies start `offset` floats into a buffer
    (offset 1: not 16-byte aligned), against float64 on the host; returns (error, bound)."""
    a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
    c = rng.uniform(-1, 1, (m, n)).astype(np.float32)

    def device(x):
        buf = cupy.empty(x.size + offset, cupy.float32)
        view = buf[offset:].reshape(x.shape)
        view[...] = cupy.asarray(x)
        return view
    da, db, dc = device(a), device(b), device(c)
    K.gemm(ta, tb, 1.0, da, db, 0.5, dc)
    a64, b64 = (a.T if ta else a).astype(np.float64), (b.T if tb else b).astype(np.float64)
    want = a64 @ b64 + 0.5 * c
    # fp32 accumulation of k products: each error is within k·2⁻²⁴ of Σ|a||b| (worst case); 1e-5 of it
    # at k ≈ 1000 is ~40× the typical √k·2⁻²⁴ and far below one wrong or missing term.
    bound = 1e-5 * (np.abs(a64) @ np.abs(b64) + np.abs(c))
    return np.abs(cupy.asnumpy(dc) - want), bound


def check_every_tile_config(k, seed):
    rng = np.random.default_rng(seed)
    sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
    for name, (m, n) in tile_config_shapes(sms).items():
        for ta in (False, True):
            for tb in (False, True):
                for offset in (0, 1):
                    err, bound = gemm_on_gpu(ta, tb, k, m, n, offset, rng)
                    assert (err <= bound).all(), (f"{name} ta={ta} tb={tb} offset={offset}: max error "
                                                  f"{err.max()} (bound {bound[err > bound].min()})")


@needs_gpu
def test_gemm_every_tile_config_many_k_tiles():
    # 126 k-tiles of 8, 63 of 16 (32×32 splits them 7 ways); K odd: A's row stride misaligned too.
    check_every_tile_config(k=1003, seed=0)


@needs_gpu
def test_small_gemm_every_tile_config():
    check_every_tile_config(k=35, seed=1)


@needs_gpu
@pytest.mark.parametrize("name", sorted(SPLIT_SHAPES))
def test_gemm_split_k_shapes(name):
    m, n, k = SPLIT_SHAPES[name]
    rng = np.random.default_rng(4)
    for ta, tb in ((False, True), (True, False)):  # the conv weight gradient's and the LSTM's layouts
        for offset in (0, 1):
            err, bound = gemm_on_gpu(ta, tb, k, m, n, offset, rng)
            assert (err <= bound).all(), f"{name} ta={ta} tb={tb} offset={offset}: max error {err.max()}"


# --- layers at the paper's sizes --------------------------------------------------------------------
def layer_parity(text, bottom_arrays, tol, propagate=None):
    """The layer on the GPU against the CPU from the same parameters and inputs: every top, bottom diff and
    parameter diff within `tol` in relative norm."""
    cpu = run_layer(text, bottom_arrays, None, False, propagate=propagate, phase=TRAIN)
    gpu = run_layer(text, bottom_arrays, cpu[3], True, propagate=propagate, phase=TRAIN)
    for kind, c_list, g_list in zip(("top", "bottom diff", "param diff"), cpu[:3], gpu[:3]):
        for i, (c, g) in enumerate(zip(c_list, g_list)):
            assert g.shape == c.shape
            assert rel_err(g, c) <= tol, f"{kind} {i}: relative error {rel_err(g, c):.3g} > {tol}"


def conv_text(num_output, kernel, stride=1, pad=0, group=1):
    return (f'type: "Convolution" convolution_param {{ num_output: {num_output} kernel_size: {kernel} '
            f'stride: {stride} pad: {pad} group: {group} weight_filler {{ type: "gaussian" std: 0.01 }} '
            f'bias_filler {{ type: "constant" value: 0.1 }} }}')


def uniform(*shape, seed=0, low=-1.0):
    return np.random.default_rng(seed).uniform(low, 1, shape).astype(np.float32)


# The GPU sums in another order than the CPU (our GEMM's k-tiles, tree reductions): float32 rounding of
# sums over up to ~50,000 terms (conv weight gradients) stays near 1e-6 in relative norm; 1e-4 would still
# catch any wrong, missing or doubled term (each is ≥ 1/√terms ≈ 5e-3 of the norm).
TOL = 1e-4
CONV_CASES = {  # batch 16 at the real layer sizes
    "caffenet conv1": (conv_text(96, 11, stride=4), (16, 3, 227, 227)),
    "caffenet conv2": (conv_text(256, 5, pad=2, group=2), (16, 96, 27, 27)),
    "hybrid conv1": (conv_text(96, 7, stride=2), (16, 3, 227, 227)),
    "hybrid conv2": (conv_text(384, 5, stride=2, group=2), (16, 96, 55, 55)),
    "conv3": (conv_text(384, 3, pad=1), (16, 256, 13, 13)),
}


@needs_gpu
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_parity_real_sizes(case):
    text, shape = CONV_CASES[case]
    layer_parity(text, [uniform(*shape)], TOL)


@needs_gpu
def test_small_conv_parity():
    layer_parity(conv_text(8, 3, stride=2, pad=1, group=2), [uniform(2, 6, 13, 11)], TOL)


def lstm_text(hidden):
    return (f'type: "LSTM" recurrent_param {{ num_output: {hidden} '
            f'weight_filler {{ type: "uniform" min: -0.08 max: 0.08 }} }}')


def sequence_inputs(T, N, D, static=None, seed=0):
    """x (T × N × D), cont (T × N: 0 on the first step and on one stream's restart), optional static input."""
    cont = np.ones((T, N), np.float32)
    cont[0] = 0
    cont[T // 2, 0] = 0
    arrays = [uniform(T, N, D, seed=seed), cont]
    if static:
        arrays.append(uniform(N, static, seed=seed + 1))
    return arrays


@needs_gpu
def test_lstm_parity_activity_size():
    layer_parity(lstm_text(256), sequence_inputs(16, 24, 4096), TOL, propagate=[True, False])


@needs_gpu
def test_lstm_parity_captioning_size_static_input():
    layer_parity(lstm_text(1000), sequence_inputs(20, 100, 1000, static=1000), TOL,
                 propagate=[True, False, True])


@needs_gpu
def test_small_lstm_parity():
    layer_parity(lstm_text(12), sequence_inputs(5, 3, 7, static=4), TOL, propagate=[True, False, True])


def caption_indices(T=20, N=100, vocab=8801, seed=0):
    """Word indices T × N with padding (−1) after each sentence's end, many repeats (the backward's
    collisions)."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, vocab, (T, N)).astype(np.float32)
    words[:, :50] = rng.integers(0, 20, (T, 50))  # frequent words
    words[rng.integers(5, T, N), np.arange(N)] = -1
    return words


EMBED = ('type: "Embed" embed_param { input_dim: 8801 num_output: 1000 bias_term: true '
         'weight_filler { type: "uniform" min: -0.08 max: 0.08 } bias_filler { type: "constant" value: 0.5 } }')


@needs_gpu
def test_embed_parity_is_exact_and_deterministic():
    # The GPU adds the rows of each weight and bias gradient in the CPU's order (csrc/layers/embed.h).
    cpu = run_layer(EMBED, [caption_indices()], None, False, propagate=[False], phase=TRAIN)
    runs = [run_layer(EMBED, [caption_indices()], cpu[3], True, propagate=[False], phase=TRAIN) for _ in range(2)]
    for gpu in runs:
        np.testing.assert_array_equal(gpu[0][0], cpu[0][0])
        for g, c in zip(gpu[2], cpu[2]):
            np.testing.assert_array_equal(g, c)


@needs_gpu
def test_softmax_loss_and_accuracy_parity_captioning_size():
    scores = uniform(20, 100, 8801, low=-4.0)
    labels = caption_indices()
    loss = 'type: "SoftmaxWithLoss" loss_param { ignore_label: -1 } softmax_param { axis: 2 }'
    layer_parity(loss, [scores, labels], TOL, propagate=[True, False])
    accuracy = 'type: "Accuracy" accuracy_param { axis: 2 ignore_label: -1 top_k: 5 }'
    cpu = run_layer(accuracy, [scores, labels], None, False, propagate=[False, False], phase=TRAIN)
    gpu = run_layer(accuracy, [scores, labels], None, True, propagate=[False, False], phase=TRAIN)
    assert gpu[0][0] == cpu[0][0]  # counts of exact comparisons


# --- streams ----------------------------------------------------------------------------------------
@needs_gpu
def test_kernels_run_on_the_current_stream(gpu_mode):
    # On a non-blocking stream held back behind a long product on another stream, cupy fills x with 2 and
    # then our kernel sets it to 1. A kernel launched on any other stream would run at once, before the
    # fill, and leave 2.
    big = cupy.ones((4096, 4096), cupy.float32)
    x = cupy.zeros(1 << 20, cupy.float32)
    with cupy.cuda.Stream(non_blocking=True) as busy:
        for _ in range(4):
            big = big @ big / 4096
        done = busy.record()
    with cupy.cuda.Stream(non_blocking=True) as stream:
        stream.wait_event(done)
        x.fill(2)
        K.set(x, 1.0)
        stream.synchronize()
    assert float(x.min()) == float(x.max()) == 1.0


@needs_gpu
def test_label_layers_do_not_wait_for_the_device(gpu_mode):
    # SoftmaxWithLoss, Accuracy and Embed used to copy label counts to the host inside their forwards. Queued
    # behind a long product (inputs already on the device), their forwards must return while the stream is
    # still busy; the bad label planted in the loss's input surfaces at K.fault() afterwards.
    labels = caption_indices(vocab=50)
    cases = [('type: "SoftmaxWithLoss" loss_param { ignore_label: -1 } softmax_param { axis: 2 }',
              [uniform(20, 100, 50), labels]),
             ('type: "Accuracy" accuracy_param { axis: 2 top_k: 5 ignore_label: -1 }', [uniform(20, 100, 50), labels]),
             (EMBED, [caption_indices()])]
    with cupy.cuda.Stream(non_blocking=True) as stream:
        for text, arrays in cases:
            layer = make_layer(text, TRAIN)
            bottom, top = setup_layer(layer, arrays)
            layer.forward(bottom, top)  # moves the inputs to the device
            assert K.fault() is None
            big = cupy.ones((4096, 4096), cupy.float32)
            for _ in range(4):
                big = big @ big / 4096
            if layer.type == "SoftmaxWithLoss":
                bottom[1].gpu_data.reshape(-1)[3] = 50  # no class of 50
            layer.forward(bottom, top)
            assert not stream.done, f"{layer.type}.forward waited for the device"
            fault = K.fault()
            if layer.type == "SoftmaxWithLoss":
                assert fault is not None and "label 50.0 at position 3" in fault[1]
            else:
                assert fault is None


@needs_gpu
def test_parity_inside_a_non_blocking_stream():
    with cupy.cuda.Stream(non_blocking=True):
        layer_parity(conv_text(32, 5, stride=2, group=2), [uniform(4, 16, 31, 29)], TOL)
        layer_parity(lstm_text(64), sequence_inputs(8, 6, 40, static=16), TOL, propagate=[True, False, True])


# --- bad input and failed calls ---------------------------------------------------------------------
def loss_net(extra=""):
    return caffe.Net(parse(f'''
layer {{ name: "in" type: "Input" top: "x" top: "label" top: "words"
  input_param {{ shape {{ dim: 4 dim: 5 }} shape {{ dim: 4 }} shape {{ dim: 3 dim: 2 }} }} }}
layer {{ name: "embed" type: "Embed" bottom: "words" top: "e" embed_param {{ input_dim: 7 num_output: 3 }} }}
layer {{ name: "silence" type: "Silence" bottom: "e" }}
layer {{ name: "acc" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" }}
{extra}''', "faults.prototxt"), caffe.TRAIN)


def feed(net, label, words):
    net.blobs["x"].data[...] = uniform(4, 5)
    net.blobs["label"].data[...] = label
    net.blobs["words"].data[...] = words


GOOD_WORDS = [[0, 1], [6, -1], [2, 2]]


@needs_gpu
@pytest.mark.parametrize("label, words, message", [
    ([0, 4, 5, 1], GOOD_WORDS, "layer 'acc' (Accuracy): accuracy_forward: label 5.0 at position 2 is not an integer in [0, 5)"),
    ([0, 1, 2, 3], [[0, 1], [7, 1.5], [2, 2]],
     "layer 'embed' (Embed): index 7.0 at position 2 of bottom 0 is not an integer in [0, 7) (input_dim) or -1"),
])
def test_bad_input_names_the_layer_and_the_next_forward_is_clean(gpu_mode, label, words, message):
    net = loss_net()
    feed(net, label, words)
    with pytest.raises(LayerError, match="faults.prototxt:[0-9]+: " + re.escape(message)):
        net.forward()
    feed(net, [0, 1, 2, 3], GOOD_WORDS)
    loss = float(net.forward()["loss"])
    caffe.set_mode_cpu()
    assert loss == pytest.approx(float(net.forward()["loss"]), rel=1e-5)


@needs_gpu
def test_softmax_loss_bad_label_names_its_layer(gpu_mode):
    net = caffe.Net(parse('''
layer { name: "in" type: "Input" top: "x" top: "label" input_param { shape { dim: 4 dim: 5 } shape { dim: 4 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" loss_param { ignore_label: 9 } }
''', "loss.prototxt"), caffe.TRAIN)
    net.blobs["x"].data[...] = uniform(4, 5)
    net.blobs["label"].data[...] = [0, 9, -3, 7]
    with pytest.raises(LayerError, match=r"layer 'loss' \(SoftmaxWithLoss\): softmax_loss_forward: label -3\.0 at "
                                         r"position 2 is not an integer in \[0, 5\) nor ignore_label 9"):
        net.forward_backward()


@needs_gpu
def test_recovers_after_a_failed_cuda_call(gpu_mode):
    # A failed call sets the runtime's last error; raised and cleared, it must not resurface in the next
    # healthy launch's check.
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        K.set_device(K.device_count() + 7)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        caffe.set_device(K.device_count() + 7)
    K.set_device(0)
    x = cupy.zeros(1000, cupy.float32)
    K.set(x, 3.0)
    assert float(x.sum()) == 3000.0
    layer_parity(conv_text(8, 3), [uniform(2, 4, 9, 9)], TOL)


@needs_gpu
def test_sumsq_and_dot_on_the_gpu_match_the_host():
    arrays = [uniform(n, seed=n) for n in (0, 1, 5, 1000, 300_000, 4_194_304)]
    device = [cupy.asarray(a) for a in arrays]
    want = K.sumsq(arrays)
    assert want == sum(K.dot(a, a) for a in arrays)  # the host's order, exactly
    got = K.sumsq(device)
    assert got == pytest.approx(want, rel=1e-12)  # double sums in another order
    assert K.sumsq(device) == got  # deterministic
    assert K.dot(device[4], device[4]) == pytest.approx(K.dot(arrays[4], arrays[4]), rel=1e-12)
    device[3][7] = cupy.nan
    assert np.isnan(K.sumsq(device))


# --- the host side of the same code (runs everywhere) ------------------------------------------------
def test_sumsq_on_the_host_is_the_sum_of_dots_in_order():
    arrays = [uniform(n, seed=n) for n in (3, 0, 70_000, 129)]
    assert K.sumsq(arrays) == sum(K.dot(a, a) for a in arrays)
    assert K.sumsq([]) == 0.0
    with pytest.raises(ValueError, match="sumsq: x must be <f4"):
        K.sumsq([np.zeros(3)])


def test_conv_rejects_zero_outputs_at_the_boundary():
    with pytest.raises(ValueError, match="conv_forward: num_output must be positive"):
        K.conv_forward(np.zeros((1, 0, 3, 3), np.float32), np.zeros((1, 2, 5, 5), np.float32),
                       np.zeros((0, 2, 3, 3), np.float32), None, None, [3, 3, 0, 0, 1, 1, 1, 1, 1])


def test_accuracy_scratch_is_for_the_device_only():
    with pytest.raises(ValueError, match="scratch is needed on the device and only there"):
        K.accuracy_forward(np.zeros(1, np.float32), None, np.zeros((2, 3), np.float32), np.zeros(2, np.float32),
                           1, 1, None, np.zeros(2, np.float32))


def test_a_recorded_fault_names_the_layer_that_launched_it(monkeypatch):
    # Net's side of the fault record, driven as on a GPU (the kernels still run on the host): a tag per
    # layer before it runs, one K.fault() after the forward, whose tag picks the layer to name.
    import lrcn_native.net as net_module
    tags = {}

    class NativeAsOnAGpu:
        def __getattr__(self, name):
            return getattr(K, name)

        def set_fault_tag(self, tag):
            tags.setdefault(tag, len(tags))

        def fault(self):
            acc = [t for t, i in tags.items() if i == net._layer_names.index("acc")][0]
            return acc, "accuracy_forward: label 5.0 at position 2 is not an integer in [0, 5)"
    net = loss_net()
    feed(net, [0, 1, 2, 3], GOOD_WORDS)
    monkeypatch.setattr(net_module, "K", NativeAsOnAGpu())
    monkeypatch.setattr(net_module, "mode", type("GpuMode", (), {"gpu": staticmethod(lambda: True)}))
    with pytest.raises(LayerError, match=r"faults.prototxt:[0-9]+: layer 'acc' \(Accuracy\): accuracy_forward: label 5"):
        net.forward()
    assert len(tags) == len(net.layers) and len(set(tags)) == len(tags)  # one distinct tag per layer
    other = loss_net()  # a tag of another net's layer is not blamed on this one's
    monkeypatch.setattr(NativeAsOnAGpu, "fault", lambda self: (10 ** 9, "index 7.0 at position 2"))
    with pytest.raises(LayerError, match="a GPU kernel run outside net"):
        other.forward()


def test_without_cuda_gpu_mode_and_devices_fail_clearly():
    if K.has_cuda:
        pytest.skip("this build has CUDA")
    with pytest.raises(RuntimeError, match="built without CUDA"):
        caffe.set_mode_gpu()
    with pytest.raises(RuntimeError, match="built without CUDA"):
        K.set_device(0)
    assert K.fault() is None
