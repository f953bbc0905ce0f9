"""The golden model against hand-computed values and a naive loop reference."""

import numpy as np
import pytest

from intnet import golden
from intnet.bundle import IntegerNetwork, Layer, validate
from intnet.contract import scale_to_mn
from intnet.synthetic import EVERY_KIND_SPECS as SPECS_EVERY_KIND
from intnet.synthetic import random_network

# ---------------------------------------------------------------- requantize corner cases


@pytest.mark.parametrize(
    "acc, m, n, bits, expected",
    [
        (5, 1, 1, 8, 3),  # 5/2 = 2.5 rounds half up to 3
        (3, 1, 1, 8, 2),  # 1.5 → 2
        (1, 1, 1, 8, 1),  # 0.5 → 1
        (-1, 1, 1, 8, 0),  # −0.5 → floor(0) = 0: half rounds toward +inf
        (-3, 1, 1, 8, 0),  # negative clamps at 0 (ReLU)
        (7, 1, 2, 8, 2),  # 1.75 → 2
        (6, 1, 2, 8, 2),  # 1.5 → 2
        (5, 1, 2, 8, 1),  # 1.25 → 1
        (1000, 1, 1, 2, 3),  # saturates at 2^q − 1
        (1000, 1, 1, 1, 1),
        (2**31 - 1, 2**16 - 1, 1, 8, 255),  # widest product stays exact in int64
        (-(2**31), 2**16 - 1, 62, 8, 0),
        (2**31 - 1, 2**16 - 1, 47, 8, 1),  # (2^31−1)(2^16−1)/2^47 ≈ 0.99998 → 1
        (0, 0, 1, 8, 0),
    ],
)
def test_requantize_corners(acc, m, n, bits, expected):
    y = golden.requantize(np.array([acc]), np.array([m]), np.array([n]), bits)
    assert int(y[0]) == expected


def test_requantize_matches_exact_rational_rounding():
    rng = np.random.default_rng(0)
    acc = rng.integers(-(2**31), 2**31, size=2000)
    m = rng.integers(0, 2**16, size=2000)
    n = rng.integers(1, 63, size=2000)
    y = golden.requantize(acc, m, n, 8)
    for a, mm, nn, yy in zip(acc, m, n, y, strict=True):
        # floor(a·m/2^n + 1/2) with Python's unbounded integers
        exact = (int(a) * int(mm) + (1 << (int(nn) - 1))) >> int(nn)
        assert int(yy) == min(255, max(0, exact))


@pytest.mark.parametrize("scale", [1e-9, 3.7e-5, 0.001, 0.1234, 0.5, 0.99999, 1.0, 3.0, 1000.0])
def test_scale_to_mn_is_accurate(scale):
    m, n = scale_to_mn(scale)
    assert 0 < m < 2**16 and 1 <= n <= 62
    assert abs(m / 2**n - scale) / scale < 2**-14


# ---------------------------------------------------------------- naive reference


def naive_conv(x, w, b, k, stride, out_hw):
    """Loops over output pixels, channels and taps; zero padding by bounds checks."""
    h, wd, cin = x.shape
    cout = w.shape[0]
    ho, wo = out_hw
    p = k // 2
    out = np.zeros((ho, wo, cout), np.int64)
    for oy in range(ho):
        for ox in range(wo):
            for co in range(cout):
                acc = int(b[co])
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = oy * stride + ky - p, ox * stride + kx - p
                        if 0 <= iy < h and 0 <= ix < wd:
                            acc += int(np.dot(w[co, ky, kx].astype(np.int64), x[iy, ix]))
                out[oy, ox, co] = acc
    return out


def naive_dwconv(x, w, b, stride, out_hw):
    h, wd, c = x.shape
    ho, wo = out_hw
    out = np.zeros((ho, wo, c), np.int64)
    for oy in range(ho):
        for ox in range(wo):
            for ch in range(c):
                acc = int(b[ch])
                for ky in range(3):
                    for kx in range(3):
                        iy, ix = oy * stride + ky - 1, ox * stride + kx - 1
                        if 0 <= iy < h and 0 <= ix < wd:
                            acc += int(w[ch, ky, kx]) * int(x[iy, ix, ch])
                out[oy, ox, ch] = acc
    return out


def conv_layer(shape, cout, k, stride, q, rng, in_bits):
    from intnet.contract import conv_out

    h, w, cin = shape
    out = (conv_out(h, k, stride), conv_out(w, k, stride), cout)
    lo, hi = (-1, 1) if q == 1 else (-(2 ** (q - 1) - 1), 2 ** (q - 1) - 1)
    wts = rng.integers(lo, hi + 1, size=(cout, k, k, cin)).astype(np.int8)
    if q == 1:
        wts[wts == 0] = 1
    layer = Layer("c", "conv", shape, out, k=k, stride=stride, w_bits=q, in_bits=in_bits,
                  out_bits=q, w=wts, b=rng.integers(-50, 50, cout).astype(np.int32),
                  m=rng.integers(1, 2**16, cout).astype(np.int32),
                  n=rng.integers(8, 20, cout).astype(np.int32))
    return layer


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("q", [1, 8])
def test_conv_matches_naive_loops(k, stride, q):
    rng = np.random.default_rng(k * 10 + stride + q)
    x = rng.integers(0, 256, size=(7, 6, 3))  # odd sizes exercise the padding edges
    layer = conv_layer((7, 6, 3), 4, k, stride, q, rng, in_bits=8)
    acc = golden.accumulate(layer, x[None])[0]
    np.testing.assert_array_equal(acc, naive_conv(x, layer.w, layer.b, k, stride,
                                                   layer.out_shape[:2]))
    y = golden.run_layer(layer, x[None])[0]
    np.testing.assert_array_equal(y, golden.requantize(acc, layer.m, layer.n, q))


@pytest.mark.parametrize("stride", [1, 2])
def test_dwconv_matches_naive_loops(stride):
    rng = np.random.default_rng(stride)
    x = rng.integers(0, 16, size=(5, 8, 3))
    from intnet.contract import conv_out

    out = (conv_out(5, 3, stride), conv_out(8, 3, stride), 3)
    layer = Layer("d", "dwconv", (5, 8, 3), out, k=3, stride=stride, w_bits=4, in_bits=4,
                  out_bits=4, w=rng.integers(-7, 8, (3, 3, 3)).astype(np.int8),
                  b=rng.integers(-9, 9, 3).astype(np.int32),
                  m=np.full(3, 3, np.int32), n=np.full(3, 4, np.int32))
    acc = golden.accumulate(layer, x[None])[0]
    np.testing.assert_array_equal(acc, naive_dwconv(x, layer.w, layer.b, stride, out[:2]))


def test_conv_hand_computed():
    # 3×3 input, one channel, all-ones 3×3 kernel: each output sums its padded window.
    x = np.arange(1, 10).reshape(1, 3, 3, 1)
    layer = Layer("c", "conv", (3, 3, 1), (3, 3, 1), k=3, stride=1, w_bits=2, in_bits=8,
                  out_bits=32, w=np.ones((1, 3, 3, 1), np.int8), b=np.array([10], np.int32))
    acc = golden.accumulate(layer, x)[0, :, :, 0]
    assert acc.tolist() == [[22, 31, 26], [37, 55, 43], [34, 49, 38]]


def test_maxpool_drops_odd_edge():
    x = np.arange(5 * 5 * 2).reshape(1, 5, 5, 2)
    y = golden.maxpool(x)
    assert y.shape == (1, 2, 2, 2)
    # window (rows 0-1, cols 0-1), channel 0: max of x[0,1,1,0] = (1*5+1)*2 = 12
    assert y[0, 0, 0, 0] == 12 and y[0, 1, 1, 1] == ((3 * 5 + 3) * 2 + 1)


def test_avgpool_sums_then_requantizes():
    x = np.array([[[[1, 2]], [[3, 4]]], [[[5, 6]], [[7, 8]]]]).reshape(1, 2, 2, 2)
    layer = Layer("g", "avgpool", (2, 2, 2), (1, 1, 2), out_bits=4,
                  m=np.array([1, 1], np.int32), n=np.array([2, 2], np.int32))
    y = golden.run_layer(layer, x)
    # sums 16 and 20, /4 with round-half-up → 4 and 5
    assert y.reshape(-1).tolist() == [4, 5]


def test_dense_flattens_hwc_order():
    x = np.arange(12).reshape(1, 2, 3, 2)
    w = np.zeros((2, 12), np.int8)
    w[0, 1] = 1  # element (h=0, w=0, c=1)
    w[1, 2] = 1  # element (h=0, w=1, c=0)
    layer = Layer("fc", "dense", (12,), (2,), w_bits=2, in_bits=8, out_bits=32, w=w,
                  b=np.zeros(2, np.int32))
    assert golden.run_layer(layer, x).tolist() == [[1, 2]]


def test_classify_breaks_ties_to_lowest_index():
    assert golden.classify(np.array([[3, 7, 7, 1], [0, 0, 0, 0]])).tolist() == [1, 0]


# ---------------------------------------------------------------- whole networks



@pytest.mark.parametrize("q", [1, 2, 4, 8])
def test_every_layer_kind_chains(q):
    net = random_network(SPECS_EVERY_KIND, q, seed=q)
    images = np.random.default_rng(0).integers(0, 256, size=(4, 9, 9, 1), dtype=np.uint8)
    trace = golden.run_trace(net, images)
    for layer, out in zip(net.layers, trace, strict=True):
        assert out.shape == (4, *layer.out_shape)
        if layer.requantizes:
            assert out.min() >= 0 and out.max() <= 2**q - 1
    # the golden network equals a composition of the naive references
    x = images[1].astype(np.int64)
    conv1, dw1 = net.layers[0], net.layers[1]
    y = golden.requantize(naive_conv(x, conv1.w, conv1.b, 5, 2, (5, 5)), conv1.m, conv1.n, q)
    np.testing.assert_array_equal(y, trace[0][1])
    y = golden.requantize(naive_dwconv(y, dw1.w, dw1.b, 2, (3, 3)), dw1.m, dw1.n, q)
    np.testing.assert_array_equal(y, trace[1][1])


def test_run_rejects_bad_images():
    net = random_network(SPECS_EVERY_KIND, 2)
    with pytest.raises(ValueError, match="shape"):
        golden.run(net, np.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        golden.run(net, np.full((1, 9, 9, 1), 256))


def hand_network() -> IntegerNetwork:
    """2×2×1 image → 1×1 conv (+x, −x) → global average pool → identity dense, +3 bias."""
    conv = Layer("c", "conv", (2, 2, 1), (2, 2, 2), k=1, stride=1, w_bits=2, in_bits=8,
                 out_bits=4, w=np.array([1, -1], np.int8).reshape(2, 1, 1, 1),
                 b=np.zeros(2, np.int32), m=np.ones(2, np.int32), n=np.ones(2, np.int32))
    gap = Layer("g", "avgpool", (2, 2, 2), (1, 1, 2), out_bits=4,
                m=np.ones(2, np.int32), n=np.full(2, 2, np.int32))
    fc = Layer("fc", "dense", (2,), (2,), w_bits=2, in_bits=4, out_bits=32,
               w=np.eye(2, dtype=np.int8), b=np.array([0, 3], np.int32))
    net = IntegerNetwork("hand", 2, 1.0, "none", (2, 2, 1), [conv, gap, fc])
    validate(net)
    return net


def test_whole_network_hand_computed():
    net = hand_network()
    images = np.array([[[4], [8]], [[12], [20]]])[None].repeat(2, axis=0)
    images[1] = 0
    # image 0: channel +x requantizes (x + 1) >> 1 = 2, 4, 6, 10; channel −x clamps to 0;
    # the pool gives (22 + 2) >> 2 = 6 and (0 + 2) >> 2 = 0; logits [6, 0 + 3].
    # image 1 (all zero): [0, 3].
    assert golden.run(net, images).tolist() == [[6, 3], [0, 3]]
    assert golden.run(net, images[0]).tolist() == [[6, 3]]  # a single H×W×C image
    assert golden.classify(golden.run(net, images)).tolist() == [0, 1]
    assert golden.accuracy(net, images, np.array([0, 0])) == 0.5
    assert golden.accuracy(net, images, np.array([0, 1]), batch=1) == 1.0
