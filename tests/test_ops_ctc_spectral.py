"""CTC loss/decoding, the CTC Keras loss, STFT/ISTFT and fold/unfold against Keras 3 (JAX)."""

import jax
import keras
import numpy as np
import pytest

import shoal
from shoal.backend.symbolic import KerasTensor
from shoal.losses.ctc_loss import CTC, ctc
from shoal.ops.ctc import ctc_decode, ctc_loss
from shoal.ops.folding import fold, unfold
from shoal.ops.spectral import istft, stft

RNG = np.random.default_rng(3)
LOGITS = (RNG.normal(size=(3, 8, 5)) * 2).astype("float32")  # (batch, steps, classes)
TARGET = np.array([[1, 2, 2, 3], [4, 1, 0, 0], [3, 3, 3, 1]], "int32")
TARGET_LENGTH = np.array([4, 2, 3], "int32")
OUTPUT_LENGTH = np.array([8, 6, 8], "int32")


def _same(actual, expected, rtol=1e-5, atol=1e-6):
    """Equal shapes and dtypes, values within tolerance (nested tuples allowed)."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            _same(a, e, rtol, atol)
        return
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# -- ctc_loss -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target,target_length,output_length,mask_index",
    [
        (TARGET, TARGET_LENGTH, OUTPUT_LENGTH, 0),
        (
            np.array([[1, 2, 2, 3], [0, 1, 0, 0], [3, 3, 3, 4]], "int32"),
            TARGET_LENGTH,
            OUTPUT_LENGTH,
            4,
        ),
        (TARGET, np.array([0, 1, 4], "int32"), np.array([0, 3, 8], "int32"), 0),  # empty cases
        (TARGET[:, :1], np.array([1, 1, 1], "int32"), OUTPUT_LENGTH, 2),
    ],
)
def test_ctc_loss_matches_keras(target, target_length, output_length, mask_index):
    args = (target, LOGITS, target_length, output_length)
    # Sums of up to 8 log-probabilities: relative agreement ~1e-6.
    _same(ctc_loss(*args, mask_index=mask_index), keras.ops.ctc_loss(*args, mask_index=mask_index))


def test_ctc_loss_is_minus_log_probability_of_the_label_paths():
    # Uniform over 3 classes for 3 steps: 5 of the 27 paths read "1 2" (blank 0).
    loss = ctc_loss([[1, 2]], np.zeros((1, 3, 3), "float32"), [2], [3])
    np.testing.assert_allclose(loss, [-np.log(5 / 27)], rtol=1e-6)


def test_ctc_loss_gradient_and_jit_match_keras():
    args = (TARGET, TARGET_LENGTH, OUTPUT_LENGTH)
    grad = jax.jit(jax.grad(lambda o: ctc_loss(TARGET, o, *args[1:]).sum()))(LOGITS)
    expected = jax.grad(lambda o: keras.ops.ctc_loss(TARGET, o, *args[1:]).sum())(LOGITS)
    _same(grad, expected, atol=1e-6)
    assert np.isfinite(np.asarray(grad)).all()


def test_ctc_loss_of_an_impossible_target_is_huge_but_finite():
    # Keras (optax) uses a finite log(0) too; the exact huge value differs with the recursion.
    loss = np.asarray(ctc_loss(TARGET, LOGITS, TARGET_LENGTH, np.array([2, 1, 3], "int32")))
    assert np.isfinite(loss).all() and (loss > 9e4).all()
    grad = jax.grad(lambda o: ctc_loss(TARGET, o, TARGET_LENGTH, np.array([2, 1, 3])).sum())(LOGITS)
    assert np.isfinite(np.asarray(grad)).all()


# -- ctc_decode -----------------------------------------------------------------------------


@pytest.mark.parametrize("merge_repeated", [True, False])
@pytest.mark.parametrize("mask_index", [0, None, 2])
def test_greedy_decode_matches_keras(merge_repeated, mask_index):
    kwargs = {"merge_repeated": merge_repeated, "mask_index": mask_index}
    _same(
        ctc_decode(LOGITS, OUTPUT_LENGTH, **kwargs),
        keras.ops.ctc_decode(LOGITS, OUTPUT_LENGTH, **kwargs),
    )


@pytest.mark.parametrize(
    "beam_width,top_paths,mask_index", [(1, 1, 0), (3, 1, None), (4, 3, 0), (12, 4, 2)]
)
def test_beam_search_matches_keras(beam_width, top_paths, mask_index):
    kwargs = {
        "strategy": "beam_search",
        "beam_width": beam_width,
        "top_paths": top_paths,
        "mask_index": mask_index,
    }
    _same(
        ctc_decode(LOGITS, OUTPUT_LENGTH, **kwargs),
        keras.ops.ctc_decode(LOGITS, OUTPUT_LENGTH, **kwargs),
    )


def test_beam_search_breaks_ties_as_keras():
    uniform, lengths = np.zeros((2, 4, 3), "float32"), np.array([4, 3], "int32")
    kwargs = {"strategy": "beam_search", "beam_width": 5, "top_paths": 5}
    _same(ctc_decode(uniform, lengths, **kwargs), keras.ops.ctc_decode(uniform, lengths, **kwargs))


def test_decode_example_and_jit():
    logits = np.log(np.array([[[0.1, 0.9], [0.8, 0.2], [0.1, 0.9]]], "float32"))
    decoded, scores = ctc_decode(logits, [3])
    np.testing.assert_array_equal(decoded, [[[1, 1, -1]]])
    fn = jax.jit(lambda x, n: ctc_decode(x, n, strategy="beam_search", beam_width=4, top_paths=2))
    _same(fn(LOGITS, OUTPUT_LENGTH), ctc_decode(LOGITS, OUTPUT_LENGTH, "beam_search", 4, 2))


def test_ctc_ops_on_symbolic_inputs():
    logits, lengths = shoal.Input((8, 5)), shoal.Input((), dtype="int32")
    decoded, scores = ctc_decode(logits, lengths, strategy="beam_search", beam_width=3, top_paths=2)
    assert decoded.shape == (2, None, 8) and decoded.dtype == "int32"
    assert scores.shape == (None, 2) and scores.dtype == "float32"
    model = shoal.Model([logits, lengths], [decoded, scores])
    expected = keras.ops.ctc_decode(LOGITS, OUTPUT_LENGTH, "beam_search", 3, 2)
    _same(model([LOGITS, OUTPUT_LENGTH]), expected)
    loss = ctc_loss(KerasTensor((None, 4), "int32"), logits, KerasTensor((None,), "int32"), lengths)
    assert loss.shape == (None,) and loss.dtype == "float32"


# -- keras.losses.CTC -----------------------------------------------------------------------

Y_TRUE = np.array([[1, 2, 0], [3, 3, 1], [2, 0, 0]], "int32")
Y_PRED = RNG.normal(size=(3, 6, 4)).astype("float32")


def test_ctc_loss_function_matches_keras():
    _same(ctc(Y_TRUE, Y_PRED), keras.losses.ctc(Y_TRUE, Y_PRED))


@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]
)
def test_ctc_loss_class_matches_keras(reduction):
    weights = np.array([1.0, 0.5, 2.0], "float32")
    mine, theirs = CTC(reduction=reduction), keras.losses.CTC(reduction=reduction)
    _same(
        mine(Y_TRUE, Y_PRED, sample_weight=weights), theirs(Y_TRUE, Y_PRED, sample_weight=weights)
    )
    _same(mine(Y_TRUE, Y_PRED), theirs(Y_TRUE, Y_PRED))
    assert mine.get_config() == {"name": "ctc", "reduction": reduction}
    assert CTC.from_config(mine.get_config()).reduction == reduction


def test_ctc_loss_function_checks_ranks():
    with pytest.raises(ValueError, match="'y_true'.*got shape"):
        ctc(Y_TRUE[0], Y_PRED)
    with pytest.raises(ValueError, match="'y_pred'.*got shape"):
        ctc(Y_TRUE, Y_PRED[0])


# -- stft / istft ---------------------------------------------------------------------------

SIGNAL = RNG.normal(size=(2, 37)).astype("float32")
STFT_SIZES = [(8, 3, 8), (7, 2, 10), (6, 4, 9), (1, 1, 1)]


@pytest.mark.parametrize("sizes", STFT_SIZES)
@pytest.mark.parametrize("window", ["hann", "hamming", None, "tensor"])
@pytest.mark.parametrize("center", [True, False])
def test_stft_and_istft_match_keras(sizes, window, center):
    length, stride, fft = sizes
    if window == "tensor":
        window = np.random.default_rng(length).random(length).astype("float32") + 0.5
    mine = stft(SIGNAL, length, stride, fft, window, center)
    theirs = keras.ops.stft(SIGNAL, length, stride, fft, window, center)
    _same(mine, theirs, atol=1e-5)
    for out_length in [None, 20] if fft // 2 or not center else [20]:
        _same(
            istft(mine, length, stride, fft, out_length, window, center),
            keras.ops.istft(theirs, length, stride, fft, out_length, window, center),
            atol=1e-5,
        )


def test_stft_example_and_float64_free_batches():
    real, imag = stft(np.array([0.0, 1.0, 2.0, 3.0, 4.0], "float32"), 3, 2, 3)
    np.testing.assert_allclose(real, [[0.75, -0.375], [3.75, -1.875], [5.25, -2.625]], atol=1e-6)
    np.testing.assert_allclose(imag, [[0, 0.649519], [0, 0.649519], [0, -0.649519]], atol=1e-6)
    x = RNG.normal(size=(2, 1, 40)).astype("float32")  # any leading batch shape
    _same(stft(x, 16, 4, 16), keras.ops.stft(x, 16, 4, 16), atol=1e-5)


@pytest.mark.parametrize("center", [True, False])
def test_istft_inverts_stft_including_hop_equal_to_fft_length(center):
    # Keras' JAX istft is wrong when sequence_stride == fft_length (jax.scipy takes the
    # noverlap=0 it is given as "default"); shoal overlap-adds with the given hop.
    x = RNG.normal(size=(2, 40)).astype("float32")
    # (A periodic Hann window is 0 at its first sample: use Hamming when not centred.)
    for length, stride, fft, window in ((16, 4, 16, "hamming"), (5, 5, 5, None), (8, 8, 8, None)):
        y = istft(
            stft(x, length, stride, fft, window, center), length, stride, fft, 30, window, center
        )
        np.testing.assert_allclose(y, x[:, :30], atol=1e-5)


def test_spectral_ops_jit_and_symbolic():
    fn = jax.jit(lambda v: istft(stft(v, 8, 4, 8), 8, 4, 8))
    _same(fn(SIGNAL[:, :32]), istft(stft(SIGNAL[:, :32], 8, 4, 8), 8, 4, 8))
    signal = shoal.Input((32,))
    real, imag = stft(signal, 8, 4, 8)
    assert real.shape == imag.shape == (None, 9, 5)
    back = istft((real, imag), 8, 4, 8)
    assert back.shape == (None, 32)
    model = shoal.Model(signal, back)
    np.testing.assert_allclose(model(SIGNAL[:, :32]), SIGNAL[:, :32], atol=1e-5)


# -- fold / unfold --------------------------------------------------------------------------

FOLD_X = RNG.normal(size=(2, 3, 7, 8)).astype("float32")
FOLD_CASES = [
    {"kernel_size": 2},
    {"kernel_size": (3, 2), "stride": 2},
    {"kernel_size": 3, "dilation": (2, 1), "padding": 1, "stride": (1, 2)},
    {"kernel_size": (2, 3), "padding": (1, 0), "stride": (1, 1), "dilation": 2},
]


@pytest.mark.parametrize("kwargs", FOLD_CASES)
def test_unfold_and_fold_match_keras(kwargs):
    mine, theirs = unfold(FOLD_X, **kwargs), keras.ops.unfold(FOLD_X, **kwargs)
    _same(mine, theirs)
    _same(fold(mine, (7, 8), **kwargs), keras.ops.fold(theirs, (7, 8), **kwargs), atol=1e-5)


def test_fold_honours_output_size_when_windows_do_not_tile():
    # Keras' JAX fold returns a (7, 6) image here; shoal returns output_size, as PyTorch does.
    kwargs = {"kernel_size": (2, 3), "padding": (2, 0), "stride": 3}
    folded = fold(unfold(FOLD_X, **kwargs), (7, 8), **kwargs)
    assert folded.shape == (2, 3, 7, 8)
    counts = fold(unfold(np.ones_like(FOLD_X), **kwargs), (7, 8), **kwargs)
    np.testing.assert_allclose(folded, FOLD_X * np.asarray(counts), rtol=1e-6)


def test_fold_unfold_jit_grad_and_symbolic():
    fn = jax.jit(lambda v: fold(unfold(v, 3, padding=1), (7, 8), 3, padding=1))
    _same(fn(FOLD_X), fold(unfold(FOLD_X, 3, padding=1), (7, 8), 3, padding=1))
    grad = jax.grad(lambda v: unfold(v, 2, stride=2).sum())(FOLD_X)
    covered = np.ones_like(FOLD_X)
    covered[:, :, 6:, :] = 0  # 2x2 windows at stride 2 never reach row 6 of 7
    np.testing.assert_allclose(grad, covered)
    x = shoal.Input((3, 7, 8))
    cols = unfold(x, 2)
    assert cols.shape == (None, 12, 42)
    assert fold(cols, (7, 8), 2).shape == (None, 3, 7, 8)
    ints = np.arange(2 * 16, dtype="int32").reshape(1, 2, 4, 4)
    _same(fold(unfold(ints, 2), 4, 2), keras.ops.fold(keras.ops.unfold(ints, 2), 4, 2))


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,argument",
    [
        (lambda: ctc_loss(TARGET, LOGITS[0], TARGET_LENGTH, OUTPUT_LENGTH), "'output'"),
        (lambda: ctc_loss(TARGET[:2], LOGITS, TARGET_LENGTH, OUTPUT_LENGTH), "'target'"),
        (lambda: ctc_loss(TARGET, LOGITS, TARGET_LENGTH[:2], OUTPUT_LENGTH), "'target_length'"),
        (
            lambda: ctc_loss(TARGET, LOGITS, TARGET_LENGTH, OUTPUT_LENGTH, mask_index=5),
            "'mask_index'",
        ),
        (lambda: ctc_decode(LOGITS, OUTPUT_LENGTH, strategy="prefix"), "'strategy'"),
        (lambda: ctc_decode(LOGITS, OUTPUT_LENGTH[:1]), "'sequence_lengths'"),
        (lambda: ctc_decode(LOGITS[0], OUTPUT_LENGTH), "'inputs'"),
        (lambda: ctc_decode(LOGITS, OUTPUT_LENGTH, "beam_search", beam_width=0), "'beam_width'"),
        (lambda: ctc_decode(LOGITS, OUTPUT_LENGTH, "beam_search", 2, top_paths=3), "'top_paths'"),
        (lambda: stft(SIGNAL, 8, 0, 8), "'sequence_stride'"),
        (lambda: stft(SIGNAL, 8, 2, 4), "'fft_length'"),
        (lambda: stft(SIGNAL, 8, 2, 8, window="blackman"), "'window'"),
        (lambda: stft(SIGNAL, 8, 2, 8, window=np.ones(7)), "'window'"),
        (lambda: stft(SIGNAL[:, :4], 8, 2, 8, center=False), "'x'"),
        (lambda: istft(SIGNAL, 8, 2, 8), "'x'"),
        (lambda: istft((SIGNAL, SIGNAL[:1]), 8, 2, 8), "'x'"),
        (lambda: istft((SIGNAL[0], SIGNAL[0]), 8, 2, 8), "'x'"),
        (lambda: istft((SIGNAL, SIGNAL), 8, 2, 8, length=-1), "'length'"),
        (lambda: unfold(FOLD_X[0], 2), "'x'"),
        (lambda: unfold(FOLD_X, (2, 2, 2)), "'kernel_size'"),
        (lambda: unfold(FOLD_X, 2, padding=-1), "'padding'"),
        (lambda: unfold(FOLD_X, 9), "kernel_size"),
        (lambda: fold(FOLD_X, (7, 8), 2), "'x'"),
        (lambda: fold(unfold(FOLD_X, 2), (7, 8), 3), "kH \\* kW"),
        (lambda: fold(unfold(FOLD_X, 2), (7, 9), 2), "number of window positions"),
    ],
)
def test_bad_arguments_name_argument_and_value(call, argument):
    with pytest.raises(ValueError, match=argument) as info:
        call()
    assert "got" in str(info.value)


def test_stft_of_integers_is_a_type_error():
    with pytest.raises(TypeError, match="stft: argument 'x'.*got dtype int32"):
        stft(np.arange(16, dtype="int32"), 4, 2, 4)
