"""shoal.ops against keras.ops (JAX backend) and NumPy, on the same small inputs."""

import inspect

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import shoal
from shoal import ops
from shoal.backend.symbolic import KerasTensor
from shoal.backend.variables import Variable

RNG = np.random.default_rng(0)
X = RNG.uniform(-2, 2, (2, 3)).astype("float32")  # general input
P = RNG.uniform(0.1, 0.9, (2, 3)).astype("float32")  # inside (0, 1): every domain is fine
Y = RNG.uniform(-2, 2, (2, 3)).astype("float32")
SQ = RNG.uniform(-1, 1, (3, 3)).astype("float32")
SPD = (SQ @ SQ.T + 3 * np.eye(3)).astype("float32")
I3 = np.array([[3, -1, 0], [2, 5, -4]], dtype="int32")
IMG = RNG.uniform(-1, 1, (2, 6, 5, 3)).astype("float32")


def _plain(x):
    """Named tuples (Keras' QRResult, ...) as plain tuples."""
    if isinstance(x, (tuple, list)):
        return type(x)(map(_plain, x)) if type(x) in (tuple, list) else tuple(map(_plain, x))
    return x


def check(got, want, rtol=1e-5, atol=1e-6):
    """Same structure, dtypes and (closely) values."""
    got_leaves, got_tree = jax.tree_util.tree_flatten(_plain(got))
    want_leaves, want_tree = jax.tree_util.tree_flatten(_plain(want))
    assert got_tree == want_tree, (got_tree, want_tree)
    for g, w in zip(got_leaves, want_leaves, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def versus_keras(name, *args, namespace=None, rtol=1e-5, atol=1e-6, **kwargs):
    mine = getattr(getattr(ops, namespace) if namespace else ops, name)
    theirs = getattr(getattr(keras.ops, namespace) if namespace else keras.ops, name)
    check(mine(*args, **kwargs), theirs(*args, **kwargs), rtol=rtol, atol=atol)


# -- API surface ----------------------------------------------------------------------------

NAMESPACES = ["numpy", "nn", "math", "core", "linalg", "image"]


def _keras_namespace(name):
    return keras.ops if name in ("math", "core") else getattr(keras.ops, name)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_signatures_match_keras(namespace):
    mine, theirs = getattr(ops, namespace), _keras_namespace(namespace)
    compared = 0
    for name in mine.__all__:
        if not hasattr(theirs, name):
            continue
        want = [
            (p.name, p.default, p.kind)
            for p in inspect.signature(getattr(theirs, name)).parameters.values()
        ]
        got = [
            (p.name, p.default, p.kind)
            for p in inspect.signature(getattr(mine, name)).parameters.values()
        ]
        assert got == want, name
        compared += 1
    assert compared >= len(mine.__all__) // 2


def test_namespace_covers_common_keras_ops():
    missing = {n for n in dir(keras.ops) if not n.startswith("_")} - set(dir(ops))
    # Data-dependent shapes, sparse/ragged helpers and rarely used signal ops are left out.
    assert missing <= {
        "adaptive_average_pool", "adaptive_max_pool", "bincount", "ctc_decode", "ctc_loss",
        "fold", "unfold", "histogram", "istft", "stft", "rearrange", "unique",
    }  # fmt: skip


# -- element-wise -------------------------------------------------------------------------

UNARY_ANY = """abs absolute negative exp exp2 expm1 sqrt cbrt square sin cos tan sinh cosh tanh
arctan arcsinh sinc deg2rad rad2deg floor ceil trunc fabs sign signbit isnan isinf isfinite
isposinf isneginf isreal logical_not real imag conj conjugate copy ravel fliplr flipud""".split()
UNARY_POS = "log log10 log1p log2 reciprocal arcsin arccos arctanh i0".split()
BINARY = """add subtract multiply divide true_divide floor_divide mod fmod maximum minimum fmax
fmin arctan2 hypot logaddexp logaddexp2 heaviside equal not_equal less less_equal greater
greater_equal logical_and logical_or logical_xor divide_no_nan""".split()


@pytest.mark.parametrize("name", UNARY_ANY)
def test_unary_any_domain(name):
    versus_keras(name, X)


@pytest.mark.parametrize("name", UNARY_POS)
def test_unary_positive_domain(name):
    versus_keras(name, P)


def test_arccosh():
    versus_keras("arccosh", P + 1)


@pytest.mark.parametrize("name", BINARY)
def test_binary(name):
    versus_keras(name, X, Y)


def test_power_and_broadcasting():
    versus_keras("power", P, Y)
    versus_keras("add", X, Y[0])
    versus_keras("multiply", X[:, :1], Y)


@pytest.mark.parametrize(
    "name", ["bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift", "gcd", "lcm"]
)
def test_integer_binary(name):
    versus_keras(name, np.abs(I3), np.array([1, 2, 3], "int32"))


def test_python_scalars_keep_dtype():
    half = jnp.ones((2,), "float16")
    assert ops.add(half, 2.0).dtype == jnp.float16
    assert ops.multiply(3, half).dtype == jnp.float16
    assert ops.subtract(jnp.ones(2, "int32"), 1).dtype == jnp.int32
    check(ops.add([1.0, 2.0], 1), np.array([2.0, 3.0], "float32"))


# -- reductions ---------------------------------------------------------------------------

REDUCTIONS = "sum mean var std max min prod all any amax amin ptp median nansum nanmean nanmax nanmin nanstd nanvar nanprod logsumexp".split()


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis,keepdims", [(None, False), ([0], True)])
def test_reductions(name, axis, keepdims):
    # Keras' nan* reductions reject list axes (they hash them); shoal takes lists and tuples.
    mine = getattr(ops, name)(X, axis=axis, keepdims=keepdims)
    axis = tuple(axis) if isinstance(axis, list) else axis
    check(mine, getattr(keras.ops, name)(X, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("name", ["argmax", "argmin", "nanargmax", "nanargmin"])
def test_arg_reductions(name):
    versus_keras(name, X)
    versus_keras(name, X, axis=0, keepdims=True)


def test_reduction_dtypes():
    versus_keras("mean", I3)
    versus_keras("sum", I3 > 0)
    versus_keras("count_nonzero", I3, axis=1)
    versus_keras("mean", X.astype("float16"), rtol=1e-3)
    check(ops.max(np.zeros((0,), "float32"), initial=-1.0), np.float32(-1.0))
    for name in ("sum", "mean", "std", "max", "logsumexp"):
        versus_keras(name, IMG, axis=(1, 2))
        versus_keras(name, IMG, axis=-1, keepdims=True)


# -- a table of explicit calls: (name, args, kwargs) -------------------------------------

IDX = np.array([[0, 2], [1, 0]], dtype="int32")
CASES = [
    ("reshape", (X, (3, -1)), {}),
    ("transpose", (IMG,), {"axes": (0, 3, 1, 2)}),
    ("transpose", (X,), {}),
    ("expand_dims", (X, 1), {}),
    ("expand_dims", (X, (0, 3)), {}),
    ("squeeze", (X[None, :, None],), {}),
    ("squeeze", (X[None],), {"axis": 0}),
    ("concatenate", ([X, Y],), {"axis": 1}),
    ("stack", ([X, Y],), {"axis": -1}),
    ("split", (IMG, 2), {"axis": 0}),
    ("split", (IMG, [1, 4]), {"axis": 1}),
    ("array_split", (X, 2), {"axis": 1}),
    ("hsplit", (SQ, 3), {}),
    ("vsplit", (SQ, [1]), {}),
    ("tile", (X, (2, 1)), {}),
    ("repeat", (X, 2), {"axis": 1}),
    ("repeat", (X, 2), {}),
    ("broadcast_to", (Y[0], (4, 3)), {}),
    ("moveaxis", (IMG, 3, 1), {}),
    ("swapaxes", (IMG, 1, 2), {}),
    ("flip", (X,), {"axis": 1}),
    ("flip", (X,), {}),
    ("roll", (X, 1), {"axis": 1}),
    ("roll", (X, -2), {}),
    ("rot90", (X,), {}),
    ("ravel", (IMG,), {}),
    ("hstack", ([X, Y],), {}),
    ("vstack", ([X, Y],), {}),
    ("dstack", ([X, Y],), {}),
    ("meshgrid", (X[0], Y[1]), {}),
    ("meshgrid", (X[0], Y[1]), {"indexing": "ij"}),
    ("pad", (X, ((1, 0), (2, 1))), {}),
    ("pad", (X, 1), {"constant_values": 3.0}),
    ("pad", (X, ((1, 1), (1, 1))), {"mode": "reflect"}),
    ("pad", (X, ((0, 1), (2, 0))), {"mode": "edge"}),
    ("diag", (X[0],), {"k": 1}),
    ("diag", (SQ,), {}),
    ("diagflat", (X,), {}),
    ("diagonal", (IMG,), {"offset": 1, "axis1": 1, "axis2": 2}),
    ("trace", (SQ,), {"offset": -1}),
    ("tril", (SQ,), {}),
    ("triu", (SQ,), {"k": 1}),
    ("take", (X, IDX), {}),
    ("take", (X, IDX), {"axis": 1}),
    ("take", (X, np.array([-1, 0], "int32")), {"axis": 1}),
    ("take_along_axis", (X, np.argsort(X, axis=1).astype("int32")), {"axis": 1}),
    ("get_item", (X, (slice(None), 1)), {}),
    ("where", (X > 0, X, Y), {}),
    ("where", (X > 0, X, 0.0), {}),
    ("select", ([X > 1, X < -1], [X, Y]), {}),
    ("clip", (X, -0.5, 0.5), {}),
    ("clip", (I3, 0, 2), {}),
    ("round", (X * 10,), {}),
    ("round", (X,), {"decimals": 2}),
    ("round", (I3 * 37,), {"decimals": -1}),
    ("nan_to_num", (np.array([np.nan, np.inf, -np.inf, 1.0], "float32"),), {"nan": 2.0}),
    ("isclose", (X, X + 1e-6), {}),
    ("allclose", (X, X + 1e-6), {}),
    ("isin", (I3, np.array([3, 5], "int32")), {}),
    ("cumsum", (X,), {"axis": 1}),
    ("cumsum", (X,), {}),
    ("cumprod", (X,), {"axis": 0}),
    ("cumsum", (I3,), {"axis": 1, "dtype": "float32"}),
    ("sort", (X,), {}),
    ("sort", (X,), {"axis": 0}),
    ("argsort", (X,), {"axis": -1}),
    ("matmul", (X, Y.T), {}),
    ("matmul", (IMG[..., :2], Y[:, :2].T), {}),
    ("dot", (X, Y.T), {}),
    ("vdot", (X, Y), {}),
    ("inner", (X, Y), {}),
    ("outer", (X[0], Y[0]), {}),
    ("kron", (X, SQ), {}),
    ("tensordot", (IMG, Y.T), {"axes": 1}),
    ("tensordot", (X, Y), {"axes": ([0, 1], [0, 1])}),
    ("einsum", ("ij,kj->ik", X, Y), {}),
    ("einsum", ("bhwc->bc", IMG), {}),
    ("cross", (X, Y), {}),
    ("average", (X,), {"axis": 1, "weights": P[0]}),
    ("average", (X,), {}),
    ("quantile", (X, 0.3), {"axis": 1}),
    ("percentile", (X, np.array([10.0, 90.0], "float32")), {}),
    ("diff", (X,), {}),
    ("diff", (X,), {"n": 1, "axis": 0}),
    ("searchsorted", (np.sort(X[0]), Y[0]), {}),
    ("digitize", (X, np.array([-1.0, 0.0, 1.0], "float32")), {}),
    ("correlate", (X[0], Y[1]), {"mode": "full"}),
    ("corrcoef", (SQ,), {}),
    ("trapezoid", (X,), {}),
    ("vander", (X[0],), {"N": 3}),
    ("append", (X, Y), {"axis": 0}),
    ("unravel_index", (np.array([1, 5], "int32"), (2, 3)), {}),
    ("zeros", ((2, 3),), {}),
    ("ones", ((2,),), {"dtype": "int32"}),
    ("full", ((2, 2), 7), {}),
    ("full", ((2,), 1.5), {"dtype": "float16"}),
    ("zeros_like", (I3,), {}),
    ("ones_like", (X,), {"dtype": "int32"}),
    ("full_like", (X, 3), {}),
    ("arange", (5,), {}),
    ("arange", (1, 4.0), {}),
    ("arange", (0, 10, 3), {"dtype": "float32"}),
    ("linspace", (0, 1, 5), {}),
    ("linspace", (0, 1), {"num": 4, "endpoint": False}),
    ("logspace", (0, 2, 3), {}),
    ("geomspace", (1, 8, 4), {}),
    ("eye", (3,), {}),
    ("eye", (2, 4), {"k": 1, "dtype": "int32"}),
    ("identity", (2,), {}),
    ("tri", (3,), {"k": -1}),
    ("hamming", (5,), {}),
    ("kaiser", (5, 0.5), {}),
]


@pytest.mark.parametrize(
    "name,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_numpy_cases(name, args, kwargs):
    versus_keras(name, *args, **kwargs)


def test_layer_normalization_rms_scaling():
    gamma = X[0]
    want = IMG / np.sqrt(IMG.var(-1, keepdims=True) + 1e-7) * gamma
    check(ops.layer_normalization(IMG, gamma=gamma, rms_scaling=True), want, rtol=1e-4, atol=1e-5)


def test_shape_information():
    assert ops.shape(X) == (2, 3) and ops.ndim(IMG) == 4 and ops.size(X) == 6
    assert (
        ops.dtype(I3) == "int32" and ops.dtype(Variable(np.ones(2), dtype="float16")) == "float16"
    )
    assert ops.is_tensor(jnp.ones(2)) and not ops.is_tensor(X)
    assert isinstance(ops.convert_to_numpy(jnp.ones(2)), np.ndarray)


# -- nn -------------------------------------------------------------------------------------

ACTIVATIONS = """relu relu6 sigmoid sparse_sigmoid log_sigmoid softplus softsign sparse_plus silu
swish hard_sigmoid hard_silu hard_swish hard_tanh selu tanh_shrink""".split()


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_ops(name):
    versus_keras(name, X)


NN_CASES = [
    ("leaky_relu", (X,), {}),
    ("leaky_relu", (X,), {"negative_slope": 0.1}),
    ("elu", (X,), {"alpha": 0.5}),
    ("celu", (X,), {"alpha": 2.0}),
    ("gelu", (X,), {}),
    ("gelu", (X,), {"approximate": False}),
    ("glu", (np.concatenate([X, Y], 1),), {}),
    ("squareplus", (X,), {"b": 2}),
    ("soft_shrink", (X,), {}),
    ("hard_shrink", (X,), {"threshold": 1.0}),
    ("threshold", (X, 0.5, -1.0), {}),
    ("softmax", (X,), {}),
    ("softmax", (X,), {"axis": 0}),
    ("log_softmax", (X,), {"axis": -1}),
    # sparsemax: Keras 3.15 is wrong when 2+ entries are kept (see the simplex test)
    ("one_hot", (I3 % 3, 4), {}),
    ("one_hot", (np.array([0, 2, -1], "int32"), 3), {"axis": 0, "dtype": "int32"}),
    ("multi_hot", (np.array([[0, 2], [1, 1]], "int32"), 4), {}),
    ("multi_hot", (np.array([0, 3], "int32"),), {"num_classes": 5}),
    ("moments", (IMG, (0, 1, 2)), {}),
    ("moments", (IMG, [1]), {"keepdims": True}),
    ("batch_normalization", (IMG, P[0], P[1], -1), {"offset": X[0], "scale": Y[0]}),
    ("batch_normalization", (IMG, P[0, :2] + 0.5, P[1, :2], 0), {}),
    ("layer_normalization", (IMG,), {"gamma": X[0], "beta": Y[0]}),
    ("layer_normalization", (IMG,), {"axis": [1, 2], "epsilon": 1e-3}),
    ("rms_normalization", (IMG,), {"scale": X[0]}),
    ("rms_normalization", (IMG,), {"axis": [1, 3]}),
    ("normalize", (X,), {}),
    ("normalize", (X,), {"axis": 0, "order": 1}),
    ("binary_crossentropy", (P > 0.5, P), {}),
    ("binary_crossentropy", (P, X), {"from_logits": True}),
    ("categorical_crossentropy", (P, P), {}),
    ("categorical_crossentropy", (P, X), {"from_logits": True, "axis": 0}),
    ("sparse_categorical_crossentropy", (np.array([2, 0], "int32"), P), {}),
    ("sparse_categorical_crossentropy", (np.array([[1], [0]], "int32"), X), {"from_logits": True}),
    ("psnr", (P, P[::-1], 1.0), {}),
    ("polar", (P, X), {}),
    ("depth_to_space", (np.tile(IMG[:, :2, :2, :], (1, 1, 1, 4)), 2), {}),
    (
        "depth_to_space",
        (np.tile(IMG[:, :2, :2, :], (1, 4, 1, 1)), 2),
        {"data_format": "channels_first"},
    ),
    ("space_to_depth", (IMG[:, :4, :4], 2), {}),
    ("space_to_depth", (IMG[:, :, :4, :2], 2), {"data_format": "channels_first"}),
]


@pytest.mark.parametrize(
    "name,args,kwargs", NN_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(NN_CASES)]
)
def test_nn_cases(name, args, kwargs):
    versus_keras(name, *args, **kwargs)


def test_sparsemax_projects_onto_the_simplex():
    """Outputs sum to 1 whatever the support size (Keras 3.15 returns zeros for a constant
    row: it subtracts the sum of running sums), and integer inputs count as floats."""
    x = np.array([[1.0, 1.0, 1.0], [0.5, 0.4, 0.3], [2.0, 1.0, 0.1]], "float32")
    out = np.asarray(ops.sparsemax(x))
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[0], 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.4333333, 0.3333333, 0.2333333], rtol=1e-5)
    np.testing.assert_allclose(out[2], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(ops.sparsemax(np.zeros((1, 3), "uint8")), [[1 / 3] * 3], rtol=1e-6)


CONV_CONFIGS = [
    # (rank, data_format, strides, padding, dilation_rate)
    (1, "channels_last", 1, "valid", 1),
    (1, "channels_first", 2, "same", 1),
    (2, "channels_last", 1, "same", 2),
    (2, "channels_last", (2, 1), "valid", 1),
    (2, "channels_first", 2, "same", 1),
    (3, "channels_last", 1, "same", 1),
]


def _conv_input(rank, data_format, channels=4):
    spatial = (7, 6, 5)[:rank]
    shape = (2, *spatial, channels) if data_format == "channels_last" else (2, channels, *spatial)
    return RNG.standard_normal(shape).astype("float32")


@pytest.mark.parametrize("rank,data_format,strides,padding,dilation", CONV_CONFIGS)
def test_conv_family(rank, data_format, strides, padding, dilation):
    x = _conv_input(rank, data_format)
    k = (3,) * rank
    common = dict(strides=strides, padding=padding, data_format=data_format)
    kernel = RNG.standard_normal((*k, 4, 5)).astype("float32")
    versus_keras("conv", x, kernel, dilation_rate=dilation, **common, rtol=1e-4, atol=1e-5)
    grouped = RNG.standard_normal((*k, 2, 6)).astype("float32")
    versus_keras("conv", x, grouped, dilation_rate=dilation, **common, rtol=1e-4, atol=1e-5)
    depthwise = RNG.standard_normal((*k, 4, 2)).astype("float32")
    versus_keras(
        "depthwise_conv", x, depthwise, dilation_rate=dilation, **common, rtol=1e-4, atol=1e-5
    )
    pointwise = RNG.standard_normal((*(1,) * rank, 8, 3)).astype("float32")
    versus_keras(
        "separable_conv",
        x,
        depthwise,
        pointwise,
        dilation_rate=dilation,
        **common,
        rtol=1e-4,
        atol=1e-5,
    )
    transpose = RNG.standard_normal((*k, 3, 4)).astype("float32")
    versus_keras(
        "conv_transpose", x, transpose, dilation_rate=dilation, **common, rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("output_padding", [None, 1])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_conv_transpose_output_padding(output_padding, padding, kernel_size):
    x = RNG.standard_normal((1, 5, 2)).astype("float32")
    kernel = RNG.standard_normal((kernel_size, 3, 2)).astype("float32")
    versus_keras(
        "conv_transpose",
        x,
        kernel,
        strides=2,
        padding=padding,
        output_padding=output_padding,
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("name", ["max_pool", "average_pool"])
@pytest.mark.parametrize("rank,data_format,strides,padding,_", CONV_CONFIGS[1::2])
def test_pooling(name, rank, data_format, strides, padding, _):
    x = _conv_input(rank, data_format, channels=2)
    versus_keras(name, x, 2, strides=strides, padding=padding, data_format=data_format)
    # keras.ops pools fail for an int pool_size with strides=None; pass strides for it.
    versus_keras(name, x, 3, strides=3, padding=padding, data_format=data_format)
    check(
        getattr(ops, name)(x, 3, padding=padding, data_format=data_format),
        getattr(ops, name)(x, 3, 3, padding, data_format),
    )


def test_dot_product_attention():
    q = RNG.standard_normal((2, 4, 2, 3)).astype("float32")
    kv = RNG.standard_normal((2, 5, 2, 3)).astype("float32")
    mask = RNG.uniform(size=(2, 1, 4, 5)) > 0.3
    versus_keras("dot_product_attention", q, kv, kv, rtol=1e-4)
    versus_keras("dot_product_attention", q, kv, kv, mask=mask, scale=0.5, rtol=1e-4)
    versus_keras(
        "dot_product_attention", q, q, q, is_causal=True, bias=np.ones((4, 4), "float32"), rtol=1e-4
    )


# -- math, linalg, image --------------------------------------------------------------------

SEG = np.array([0, 0, 2], "int32")
DATA = RNG.standard_normal((3, 2)).astype("float32")
MATH_CASES = [
    ("erf", (X,), {}),
    ("erfc", (X,), {}),
    ("erfinv", (P,), {}),
    ("rsqrt", (P,), {}),
    ("top_k", (X, 2), {}),
    ("in_top_k", (np.array([0, 2], "int32"), X, 2), {}),
    ("segment_sum", (DATA, SEG, 3), {}),
    ("segment_max", (DATA, SEG), {"num_segments": 3, "sorted": True}),
    ("segment_min", (DATA, SEG, 3), {}),
    ("segment_prod", (DATA, SEG, 3), {}),
    ("logdet", (SPD,), {}),
    ("cdist", (X, Y), {}),
    ("extract_sequences", (IMG[..., 0], 2, 2), {}),
    ("fft", ((X, Y),), {}),
    ("fft2", ((X, Y),), {}),
    ("ifft2", ((X, Y),), {}),
    ("rfft", (X,), {}),
    ("rfft", (X,), {"fft_length": 4}),
    ("irfft", ((X, Y),), {}),
    ("view_as_real", (X + 1j * Y,), {}),
    ("slogdet", (SPD,), {}),
]


@pytest.mark.parametrize(
    "name,args,kwargs", MATH_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(MATH_CASES)]
)
def test_math_cases(name, args, kwargs):
    versus_keras(name, *args, **kwargs, rtol=1e-4, atol=1e-5)


def test_segment_sum_infers_num_segments_eagerly():
    check(ops.segment_sum(DATA, SEG), jax.ops.segment_sum(DATA, SEG, 3))
    with pytest.raises(ValueError, match="num_segments"):
        jax.jit(lambda d, s: ops.segment_sum(d, s))(DATA, SEG)


LINALG_CASES = [
    ("norm", (X,), {}),
    ("norm", (X,), {"axis": 1, "keepdims": True}),
    ("norm", (X,), {"ord": "fro"}),
    ("norm", (X,), {"ord": 1, "axis": 1}),
    ("norm", (I3,), {}),
    ("det", (SPD,), {}),
    ("inv", (SPD,), {}),
    ("pinv", (X,), {}),
    ("solve", (SPD, X.T), {}),
    ("solve_triangular", (np.tril(SPD), X.T), {"lower": True}),
    ("lstsq", (SPD, X.T), {}),
    ("cholesky", (SPD,), {}),
    ("cholesky", (SPD,), {"upper": True}),
    ("cholesky_inverse", (np.linalg.cholesky(SPD).astype("float32"),), {}),
    ("qr", (X.T,), {}),
    ("qr", (X.T,), {"mode": "complete"}),
    ("svd", (SPD,), {}),
    ("svd", (X,), {"compute_uv": False}),
    ("eigh", (SPD,), {}),
    ("lu_factor", (np.stack([SPD, SPD + 1]),), {}),
    ("matrix_rank", (X,), {}),
]


@pytest.mark.parametrize(
    "name,args,kwargs", LINALG_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LINALG_CASES)]
)
def test_linalg_cases(name, args, kwargs):
    versus_keras(name, *args, **kwargs, namespace="linalg", rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interpolation": "bilinear"},
        {"interpolation": "nearest"},
        {"interpolation": "bicubic", "antialias": True},
        {"crop_to_aspect_ratio": True},
        {"pad_to_aspect_ratio": True, "fill_value": 1.0},
    ],
)
def test_image_resize(kwargs):
    versus_keras("resize", IMG, (4, 8), **kwargs, namespace="image", rtol=1e-4, atol=1e-5)
    if kwargs.get("interpolation", "bilinear") != "bilinear":
        return  # the layout handling below does not depend on the interpolation
    chw = np.moveaxis(IMG[0], -1, 0)  # one image, channels first
    versus_keras(
        "resize",
        chw,
        (9, 3),
        data_format="channels_first",
        **kwargs,
        namespace="image",
        rtol=1e-4,
        atol=1e-5,
    )


# -- core: conversion, control flow, scatter ---------------------------------------------


def test_core_conversion():
    versus_keras("cast", X, "int32")
    versus_keras("cast", [1, 2], "float16")
    versus_keras("convert_to_tensor", [[1.0, 2.0]])
    versus_keras("convert_to_tensor", np.ones(2, dtype="float64"))
    versus_keras("saturate_cast", np.array([-1.0, 3e9, 256.0, np.inf], "float32"), "uint8")
    versus_keras("saturate_cast", np.array([-70000, 5], "int32"), "int16")
    versus_keras("stop_gradient", X)
    assert jax.grad(lambda x: ops.sum(ops.stop_gradient(x) * x))(X).shape == X.shape


def test_core_control_flow():
    def step(carry, x):
        return carry + x, carry * x

    versus_keras("scan", step, np.float32(0.0), P[0])
    versus_keras("scan", step, np.float32(1.0), P[0], reverse=True)
    versus_keras("fori_loop", 0, 4, lambda i, v: v * 2 + i, np.float32(1.0))
    versus_keras(
        "while_loop", lambda a, b: a < 10, lambda a, b: (a + 1, b * 2), (0, np.float32(1.0))
    )
    versus_keras("while_loop", lambda a: a < 10, lambda a: a + 3, 0, maximum_iterations=2)
    versus_keras("cond", X.sum() > 0, lambda: X, lambda: Y)
    versus_keras("switch", 1, [lambda x: x + 1, lambda x: x * 2], X)
    versus_keras("vectorized_map", lambda row: row.sum(), X)
    versus_keras("map", lambda row: row * 2, X)
    versus_keras("associative_scan", jnp.add, P[0])
    with pytest.raises(ValueError, match="unroll"):
        ops.scan(step, 0.0, P[0], unroll=0)


def test_core_slicing_and_scatter():
    versus_keras("slice", IMG, (0, 1, 2, 0), (2, 3, -1, 2))
    versus_keras("slice_update", X, (1, 1), np.zeros((1, 2), "float32"))
    indices = np.array([[0, 1], [1, 2], [0, 1]], "int32")
    versus_keras("scatter", indices, np.array([1.0, 2.0, 3.0], "float32"), (2, 3))
    for reduction in (None, "add", "max", "min", "mul"):
        versus_keras(
            "scatter_update", X, indices[:2], np.array([5.0, 6.0], "float32"), reduction=reduction
        )
    versus_keras("unstack", IMG, axis=3)
    with pytest.raises(ValueError, match="reduction.*'sum'"):
        ops.scatter_update(X, indices, X[0], reduction="sum")


def test_custom_gradient():
    @ops.custom_gradient
    def clipped_identity(x):
        def grad(upstream):
            return jnp.clip(upstream, -0.5, 0.5)

        return x, grad

    g = jax.grad(lambda x: jnp.sum(clipped_identity(x) * 3.0))(X)
    check(g, np.full_like(X, 0.5))


# -- Variables, jit, symbolic inputs, errors -----------------------------------------------


def test_ops_accept_variables_anywhere():
    v = Variable(X, name="v")
    check(ops.add(v, 1.0), X + 1.0)
    check(ops.matmul(v, Y.T), X @ Y.T)
    check(ops.concatenate([v, Y], axis=0), np.concatenate([X, Y]))
    check(ops.nn.relu(v), np.maximum(X, 0))
    check(ops.linalg.norm(v), np.float32(np.linalg.norm(X)))
    check(ops.stop_gradient(v), X)
    check(ops.scan(lambda c, x: (c + x, x), 0.0, Variable(P[0]))[0], np.float32(P[0].sum()))


def test_ops_work_under_jit_and_grad():
    def loss(kernel, x):
        y = ops.conv(x, kernel, padding="same")
        return ops.mean(ops.square(ops.nn.relu(y)))

    x, kernel = IMG, RNG.standard_normal((3, 3, 3, 2)).astype("float32")
    value, grad = jax.jit(jax.value_and_grad(loss))(kernel, x)
    check(value, loss(kernel, x), rtol=1e-4)
    assert grad.shape == kernel.shape


def test_symbolic_inputs_record_graph_nodes():
    x = KerasTensor((None, 3), dtype="float32")
    v = Variable(np.ones((3, 4), "float32"))
    y = ops.matmul(ops.add(x, 1.0), v)
    assert isinstance(y, KerasTensor) and y.shape == (None, 4) and y.dtype == "float32"
    operation, _, _ = y._keras_history
    assert operation.name.startswith("matmul")
    parts = ops.split(KerasTensor((2, 6)), 3, axis=1)
    assert [p.shape for p in parts] == [(2, 2)] * 3
    assert ops.shape(x) == (None, 3) and ops.ndim(x) == 2
    pooled = ops.max_pool(KerasTensor((None, 8, 8, 3)), 2)
    assert pooled.shape == (None, 4, 4, 3)
    # Running the recorded operation reads the Variable's current value.
    v.assign(np.full((3, 4), 2.0, "float32"))
    check(operation.call(np.ones((1, 3), "float32"), v), np.full((1, 4), 6.0, "float32"))


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: ops.conv(IMG, np.ones((3, 3, 3, 2)), padding="full"),
            r"conv: argument 'padding'.*'full'",
        ),
        (lambda: ops.conv(IMG, np.ones((3, 3, 2, 2))), r"conv: .*multiple.*got 3 input channels"),
        (
            lambda: ops.conv(IMG, np.ones((3, 3, 3, 2)), strides=0),
            r"conv: argument 'strides'.*got 0",
        ),
        (lambda: ops.max_pool(IMG, (2, 2, 2)), r"max_pool: argument 'pool_size'.*\(2, 2, 2\)"),
        (
            lambda: ops.depthwise_conv(IMG, np.ones((3, 3, 2, 1))),
            r"depthwise_conv: .*kernel.shape=\(3, 3, 2, 1\)",
        ),
        (lambda: ops.conv(IMG, np.ones((3, 3, 3, 2)), data_format="nhwc"), r"data_format.*'nhwc'"),
        (lambda: ops.pad(X, 1, mode="edge", constant_values=1), r"pad: .*mode='edge'"),
        (lambda: ops.where(X > 0, X), r"where: .*'x1' and 'x2'"),
        (
            lambda: ops.categorical_crossentropy(X, X[:, :2]),
            r"target.shape=\(2, 3\), output.shape=\(2, 2\)",
        ),
        (lambda: ops.normalize(X, order=0), r"normalize: argument 'order'.*got 0"),
        (lambda: ops.linalg.qr(X, mode="full"), r"qr: argument 'mode'.*'full'"),
        (lambda: ops.linalg.inv(X[0]), r"inv: argument 'x' must have rank >= 2, got shape \(3,\)"),
        (
            lambda: ops.image.resize(IMG, (2, 2), interpolation="area"),
            r"resize: argument 'interpolation'.*'area'",
        ),
        (lambda: ops.one_hot(I3, 3, sparse=True), r"one_hot: sparse.*sparse=True"),
        (lambda: ops.convert_to_tensor(X, sparse=True), r"convert_to_tensor: .*sparse=True"),
    ],
)
def test_errors_name_the_argument_and_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_value_dependent_ops_on_symbolic_inputs():
    """unique / bincount / nonzero / where(condition) have sizes known only when run:
    on KerasTensors they give None there, as in Keras."""
    ints = shoal.Input(batch_shape=(4,), dtype="int32")
    assert ops.unique(ints).shape == (None,)
    values, inverse, counts = ops.unique(ints, return_inverse=True, return_counts=True)
    assert (values.shape, inverse.shape, counts.shape) == ((None,), (4,), (None,))
    assert ops.bincount(ints).shape == (None,) and ops.bincount(ints).dtype == "int32"
    rows, cols = ops.nonzero(shoal.Input((3,)))
    assert rows.shape == cols.shape == (None,)
    assert len(ops.where(shoal.Input((3,), dtype="bool"))) == 2
    assert ops.where(shoal.Input((3,), dtype="bool"), shoal.Input((3,)), 0.0).shape == (None, 3)


def test_integer_inputs_to_float_ops():
    assert ops.ceil(np.array([1, 2], "int32")).dtype == "float32"
    assert ops.floor(np.array([True])).dtype == "float32"
    assert ops.floor(np.ones(2, "float16")).dtype == "float16"
    pooled = ops.adaptive_average_pool(np.ones((1, 5, 5, 2), "int32"), 2)
    assert pooled.dtype == "float32"
