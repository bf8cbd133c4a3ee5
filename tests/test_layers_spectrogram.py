"""STFTSpectrogram, MelSpectrogram and the STFT initializer, against Keras 3.15 (JAX
backend) given the same weights."""

import jax
import numpy as np
import pytest
from harness import check_gradients, make_input, save_load_round_trip

import shoal
from shoal.initializers_stft import STFT, STFTInitializer
from shoal.layers.mel_spectrogram import MelSpectrogram
from shoal.layers.stft_spectrogram import STFTSpectrogram


def _keras():
    import keras

    return keras


def scipy_signal():
    from scipy import signal

    return signal


def _close(a, b, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(
        np.asarray(a, "float64"), np.asarray(b, "float64"), rtol=rtol, atol=atol
    )


def _signal(shape, seed=0):
    return make_input(shape, seed=seed)


# -- STFTSpectrogram ------------------------------------------------------------------------

STFT_CASES = [
    {},
    {"mode": "magnitude", "frame_length": 64, "frame_step": 16, "fft_length": 128},
    {"mode": "psd", "frame_length": 32, "padding": "same", "scaling": "spectrum"},
    {"mode": "real", "frame_length": 48, "frame_step": 48, "expand_dims": True},
    {"mode": "imag", "frame_length": 40, "window": "hamming", "periodic": True},
    {"mode": "angle", "frame_length": 50, "window": None, "scaling": None},
    {"mode": "stft", "frame_length": 32, "fft_length": 64, "expand_dims": True},
    {"mode": "log", "frame_length": 30, "frame_step": 7, "padding": "same", "scaling": None},
    {"mode": "log", "frame_length": 16, "window": list(np.linspace(0.1, 1.0, 16))},
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kwargs", STFT_CASES)
def test_stft_spectrogram_matches_keras(kwargs, data_format):
    keras = _keras()
    kwargs = {**kwargs, "data_format": data_format}
    x = _signal((2, 256, 2), seed=1)
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    ours, theirs = STFTSpectrogram(**kwargs), keras.layers.STFTSpectrogram(**kwargs)
    out, want = ours(x), theirs(x)
    # Same weights, names, shapes and order; the initial values already agree.
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == [
        (w.name, tuple(w.shape)) for w in theirs.weights
    ]
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        _close(a, b, 0, 0)
    _close(out, want)
    ours.set_weights([w + 0.01 for w in theirs.get_weights()])
    theirs.set_weights([w + 0.01 for w in theirs.get_weights()])
    _close(ours(x), theirs(x))
    assert tuple(out.shape) == ours.compute_output_shape(x.shape) == tuple(want.shape)
    symbolic = ours(shoal.Input(batch_shape=(None, *x.shape[1:])))
    assert tuple(symbolic.shape) == (None, *out.shape[1:])


@pytest.mark.parametrize("mode", ["real", "imag", "log"])
def test_stft_spectrogram_weights_and_trainable(mode):
    layer = STFTSpectrogram(mode=mode, frame_length=16)
    layer.build((None, 64, 1))
    names = {"real": ["real_kernel"], "imag": ["imag_kernel"]}.get(
        mode, ["real_kernel", "imag_kernel"]
    )
    assert [w.name for w in layer.trainable_weights] == names
    assert all(w.shape == (16, 1, 9) for w in layer.weights)
    frozen = STFTSpectrogram(mode=mode, frame_length=16, trainable=False)
    frozen.build((None, 64, 1))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == len(names)
    assert frozen.get_config()["trainable"] is False


def test_stft_spectrogram_config_round_trip():
    keras = _keras()
    layer = STFTSpectrogram(
        mode="psd", frame_length=32, frame_step=8, fft_length=64, window="hamming",
        periodic=True, scaling="spectrum", padding="same", expand_dims=True,
        data_format="channels_first",
    )  # fmt: skip
    config = layer.get_config()
    clone = STFTSpectrogram.from_config(config)
    assert clone.get_config() == config
    x = _signal((2, 1, 256), seed=2)
    _close(clone(x), layer(x), 0, 0)
    # Keras reads shoal's config and shoal reads Keras'
    twin = keras.layers.STFTSpectrogram.from_config(config)
    assert twin.get_config() == config
    assert STFTSpectrogram.from_config(twin.get_config()).get_config() == config


def test_stft_spectrogram_defaults_match_keras():
    keras = _keras()
    ours, theirs = STFTSpectrogram(name="s"), keras.layers.STFTSpectrogram(name="s")
    assert ours.get_config() == theirs.get_config()


def test_stft_spectrogram_gradients():
    for mode, x in [("stft", _signal((1, 64, 2), seed=3)), ("magnitude", _signal((1, 64, 1)))]:
        layer = STFTSpectrogram(mode=mode, frame_length=16, frame_step=8)
        layer(x)  # build
        check_gradients(layer, (x,))


def test_stft_spectrogram_float64_and_int_inputs():
    x = _signal((2, 128, 1), seed=5).astype("float64")
    with jax.enable_x64(True):
        layer = STFTSpectrogram(frame_length=32, dtype="float64")
        out = layer(x)
        theirs = _keras().layers.STFTSpectrogram(frame_length=32, dtype="float64")
        assert out.dtype == np.float64 and layer.weights[0].dtype == "float64"
        _close(out, theirs(x), 1e-5, 1e-5)  # Keras' float64 kernels use a float32 pi
        layer.set_weights([np.asarray(w.value) for w in theirs.weights])
        _close(layer(x), theirs(x), 1e-12, 1e-12)
    with pytest.raises(TypeError, match="float16, float32 or float64.*int32"):
        STFTSpectrogram(frame_length=32)(np.zeros((1, 64, 1), "int32"))


def test_stft_spectrogram_too_short_signal():
    with pytest.raises(ValueError, match="shorter than frame_length=64"):
        STFTSpectrogram(frame_length=64)(np.zeros((1, 32, 1), "float32"))
    # 'same' padding gives frames for any length
    assert STFTSpectrogram(frame_length=64, padding="same")(
        np.zeros((1, 32, 1), "float32")
    ).shape == (1, 1, 33)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"mode": "power"}, ["mode", "'log'", "'power'"]),
        ({"frame_length": 0}, ["frame_length", "positive", "0"]),
        ({"frame_length": 2.5}, ["frame_length", "2.5"]),
        ({"frame_length": 32, "frame_step": 64}, ["frame_step", "frame_length=32", "64"]),
        ({"frame_step": 0}, ["frame_step", "0"]),
        ({"frame_length": 64, "fft_length": 32}, ["fft_length", ">= frame_length=64", "32"]),
        ({"window": "nope"}, ["window", "'nope'"]),
        ({"frame_length": 8, "window": [1.0, 2.0]}, ["window", "frame_length=8", "2"]),
        ({"scaling": "l2"}, ["scaling", "'density'", "'l2'"]),
        ({"padding": "causal"}, ["padding", "'valid'", "'causal'"]),
        ({"periodic": "yes"}, ["periodic", "bool", "'yes'"]),
        ({"expand_dims": 1}, ["expand_dims", "bool", "1"]),
        ({"data_format": "nwc"}, ["data_format", "'nwc'"]),
    ],
)
def test_stft_spectrogram_errors(kwargs, words):
    with pytest.raises(ValueError) as info:
        STFTSpectrogram(**kwargs)
    for word in words:
        assert word in str(info.value)
    assert "STFTSpectrogram" in str(info.value)


def test_stft_spectrogram_warns_on_odd_fft_length():
    with pytest.warns(UserWarning, match="power of two.*100"):
        layer = STFTSpectrogram(frame_length=64, fft_length=100)
    assert layer(np.zeros((1, 128, 1), "float32")).shape == (1, 3, 51)


# -- STFT initializer -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, shape, dtype",
    [
        (("real", "hann", "density", False), (64, 1, 33), "float32"),
        (("imag", "hann", "density", False), (64, 1, 33), "float32"),
        (("real", "hamming", "spectrum", True), (40, 1, 33), "float32"),
        (("imag", "blackman", None, False), (20, 1, 17), "float32"),
        (("real", None, "density", False), (16, 1, 9), "float32"),
        (("imag", "hann", "density", True), (256, 1, 129), "float64"),
    ],
)
def test_stft_initializer_matches_keras(args, shape, dtype):
    keras = _keras()
    with jax.enable_x64(dtype == "float64"):
        ours = STFT(*args)(shape, dtype=dtype)
        want = keras.initializers.STFT(*args)(shape, dtype=dtype)
    assert ours.dtype == np.dtype(dtype) and ours.shape == shape
    if dtype == "float64":
        # Keras' float64 kernels take pi from a float32 arccos(-1): they are float32-exact only.
        _close(ours, want, 0, 1e-5)
        t, k = np.arange(shape[0])[:, None, None], np.arange(shape[2])[None, None, :]
        basis = np.sin(-2 * np.pi * t * k / (2 * (shape[2] - 1)))
        window = scipy_signal().get_window(args[1], shape[0], fftbins=args[3])[:, None, None]
        _close(ours, basis * window / np.sqrt(np.sum(window**2)), 1e-12, 1e-12)
    else:
        _close(ours, want, 0, 0)


def test_stft_initializer_config_and_aliases():
    keras = _keras()
    init = STFT("imag", "hamming", "spectrum", True)
    config = init.get_config()
    assert config == keras.initializers.STFT("imag", "hamming", "spectrum", True).get_config()
    assert STFT.from_config(config).get_config() == config
    assert STFTInitializer is STFT
    custom = STFT("real", np.linspace(0.0, 1.0, 8), None)
    assert custom.get_config()["window"] == list(np.linspace(0.0, 1.0, 8))
    _close(
        STFT.from_config(custom.get_config())((8, 1, 5)),
        keras.initializers.STFT("real", np.linspace(0.0, 1.0, 8), None)((8, 1, 5)),
        0,
        0,
    )
    # every channel gets the same basis
    wide = STFT()((8, 3, 5))
    assert wide.shape == (8, 3, 5)
    _close(wide[:, 2], wide[:, 0], 0, 0)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: STFT("complex"), ["side", "'real'", "'complex'"]),
        (lambda: STFT(window="nope"), ["window", "'nope'"]),
        (lambda: STFT(scaling="l1"), ["scaling", "'l1'"]),
        (lambda: STFT(window=[1.0, 2.0])((3, 1, 2)), ["window", "(3,)", "(2,)"]),
        (lambda: STFT()((3, 2)), ["shape", "(3, 2)"]),
    ],
)
def test_stft_initializer_errors(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value)


# -- MelSpectrogram -------------------------------------------------------------------------

# Keras' JAX stft goes through jax.scipy.signal.stft (which divides by the window sum and
# Keras multiplies it back); ours takes the rfft directly. The float32 rounding that
# leaves (~1e-7 relative in power) becomes ~4e-6 dB after 10*log10, on values of tens of dB.
MEL_TOL = {"rtol": 2e-5, "atol": 2e-4}

MEL_CASES = [
    ({}, (2, 256)),
    ({"fft_length": 256, "sequence_stride": 64, "num_mel_bins": 16, "sampling_rate": 8000}, (2, 256)),
    (
        {
            "fft_length": 128, "sequence_length": 100, "sequence_stride": 32, "window": "hamming",
            "num_mel_bins": 10, "min_freq": 100.0, "max_freq": 3000.0, "power_to_db": False,
            "mag_exp": 1.0, "sampling_rate": 8000,
        },
        (255,),
    ),
    (
        {
            "fft_length": 64, "sequence_stride": 16, "num_mel_bins": 8, "window": None,
            "top_db": 20.0, "ref_power": 2.0, "min_power": 1e-5,
        },
        (2, 200),
    ),
]  # fmt: skip


@pytest.mark.parametrize("kwargs, shape", MEL_CASES)
def test_mel_spectrogram_matches_keras(kwargs, shape):
    keras = _keras()
    x = _signal(shape, seed=6)
    ours, theirs = MelSpectrogram(**kwargs), keras.layers.MelSpectrogram(**kwargs)
    out, want = ours(x), theirs(x)
    assert ours.weights == [] and theirs.weights == []
    _close(out, want, **MEL_TOL)
    assert tuple(out.shape) == tuple(want.shape) == ours.compute_output_shape(shape)
    if len(shape) == 2:
        symbolic = ours(shoal.Input(batch_shape=(None, shape[1])))
        assert tuple(symbolic.shape) == (None, *out.shape[1:])


def test_mel_spectrogram_output_length():
    # Keras' compute_output_shape says (samples + stride + 1) // stride frames, one too
    # many when samples + 1 is a multiple of the stride; ours is the length call returns.
    layer = MelSpectrogram(fft_length=128, sequence_stride=32, num_mel_bins=8)
    out = layer(_signal((1, 255), seed=7))
    assert tuple(out.shape) == layer.compute_output_shape((1, 255)) == (1, 8, 8)


def test_mel_spectrogram_window_array_and_int_inputs():
    keras = _keras()
    window = np.linspace(0.2, 1.0, 64).astype("float32")
    kwargs = {"fft_length": 64, "sequence_stride": 32, "num_mel_bins": 8, "window": window}
    x = make_input((2, 256), "int32", seed=8, high=100)
    out = MelSpectrogram(**kwargs)(x)
    assert out.dtype == np.float32
    _close(out, keras.layers.MelSpectrogram(**kwargs)(x.astype("float32")), **MEL_TOL)
    assert MelSpectrogram(**kwargs).get_config()["window"] == window.tolist()


def test_mel_spectrogram_config_round_trip():
    keras = _keras()
    layer = MelSpectrogram(
        fft_length=128, sequence_stride=32, sequence_length=96, window="hamming",
        sampling_rate=8000, num_mel_bins=12, min_freq=50.0, max_freq=3500.0,
        power_to_db=False, top_db=60.0, mag_exp=1.0, min_power=1e-8, ref_power=2.0,
        name="mel",
    )  # fmt: skip
    config = layer.get_config()
    assert MelSpectrogram.from_config(config).get_config() == config
    twin = keras.layers.MelSpectrogram.from_config(config)
    assert twin.get_config() == config
    assert (
        MelSpectrogram(name="m").get_config() == keras.layers.MelSpectrogram(name="m").get_config()
    )


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"fft_length": 0}, ["fft_length", "0"]),
        ({"sequence_stride": -1}, ["sequence_stride", "-1"]),
        ({"fft_length": 64, "sequence_length": 128}, ["sequence_length", "fft_length=64", "128"]),
        ({"window": "blackman"}, ["window", "'hann'", "'blackman'"]),
        ({"fft_length": 64, "window": np.ones(10)}, ["window", "(64,)", "(10,)"]),
        ({"sampling_rate": 0}, ["sampling_rate", "> 0", "0"]),
        ({"num_mel_bins": 0}, ["num_mel_bins", "0"]),
        ({"min_freq": -1.0}, ["min_freq", ">= 0", "-1.0"]),
        ({"min_freq": 900.0, "max_freq": 800.0}, ["max_freq", "min_freq=900.0", "800.0"]),
        ({"power_to_db": "yes"}, ["power_to_db", "bool", "'yes'"]),
        ({"top_db": None}, ["top_db", "number", "None"]),
        ({"min_power": -1e-3}, ["min_power", "-0.001"]),
    ],
)
def test_mel_spectrogram_errors(kwargs, words):
    with pytest.raises(ValueError) as info:
        MelSpectrogram(**kwargs)
    for word in words:
        assert word in str(info.value)
    assert "MelSpectrogram" in str(info.value)


# -- models ---------------------------------------------------------------------------------


def test_stft_spectrogram_trains_and_saves():
    x = _signal((2, 256, 1), seed=9)
    y = _signal((2, 1), seed=10)
    inputs = shoal.Input((256, 1))
    h = STFTSpectrogram(mode="log", frame_length=32, frame_step=16, fft_length=32)(inputs)
    outputs = shoal.layers.Dense(1)(shoal.layers.Flatten()(h))
    model = shoal.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = model.get_weights()
    assert [w.shape for w in after] == [(32, 1, 17), (32, 1, 17), (17 * 15, 1), (1,)]
    assert all(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    loaded = save_load_round_trip(model, x)
    assert [w.name for w in loaded.layers[1].weights] == ["real_kernel", "imag_kernel"]


def test_mel_spectrogram_in_a_saved_model():
    x = _signal((2, 256), seed=11)
    inputs = shoal.Input((256,))
    h = MelSpectrogram(fft_length=64, sequence_stride=32, num_mel_bins=8)(inputs)
    model = shoal.Model(inputs, shoal.layers.Dense(2)(shoal.layers.Flatten()(h)))
    assert model.output_shape == (None, 2)
    save_load_round_trip(model, x)
