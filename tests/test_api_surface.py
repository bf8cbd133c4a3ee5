"""Keras 3 names beyond layers and models: keras.tree, backend helpers, scopes, config
switches, Progbar, image file utilities, keras.preprocessing — against Keras 3.15 (JAX)."""

import collections
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402
from shoal.backend import run_settings  # noqa: E402

Point = collections.namedtuple("Point", ["x", "y"])

STRUCTURES = [
    1,
    None,
    [1, [2, None], (3,)],
    {"b": 1, "a": [2, {"d": 3, "c": None}]},
    collections.OrderedDict([("z", 1), ("a", 2)]),
    Point(1, [2, 3]),
    [],
    {"k": ()},
]


# -- keras.tree ------------------------------------------------------------------------


@pytest.mark.parametrize("structure", STRUCTURES, ids=range(len(STRUCTURES)))
def test_tree_flatten_pack_and_map_equal_keras(structure):
    assert shoal.tree.flatten(structure) == keras.tree.flatten(structure)
    assert shoal.tree.flatten_with_path(structure) == keras.tree.flatten_with_path(structure)
    assert shoal.tree.is_nested(structure) == keras.tree.is_nested(structure)
    flat = list(range(len(keras.tree.flatten(structure))))
    assert shoal.tree.pack_sequence_as(structure, flat) == keras.tree.pack_sequence_as(
        structure, flat
    )
    mapped = shoal.tree.map_structure(lambda v: (v, "seen"), structure)
    assert mapped == keras.tree.map_structure(lambda v: (v, "seen"), structure)
    assert shoal.tree.lists_to_tuples(structure) == keras.tree.lists_to_tuples(structure)


def test_tree_traverse_and_up_to_equal_keras():
    structure = [(1, 2), [3], {"a": 4}]
    for top_down in (True, False):
        seen_s, seen_k = [], []
        assert shoal.tree.traverse(seen_s.append, structure, top_down=top_down) == (
            keras.tree.traverse(seen_k.append, structure, top_down=top_down)
        )
        assert seen_s == seen_k

    def drop_tuples(node):
        return shoal.tree.MAP_TO_NONE if isinstance(node, tuple) else None

    assert shoal.tree.traverse(drop_tuples, structure) == [None, [3], {"a": 4}]
    shallow, deep = [0, [0, 0]], [[1, 1], [2, 2]]
    assert shoal.tree.map_structure_up_to(shallow, str, deep) == (
        keras.tree.map_structure_up_to(shallow, str, deep)
    )
    # Keras documents None placeholders in the shallow structure (its optree code rejects
    # them: it checks leaves without none_is_leaf); here they work as documented.
    assert shoal.tree.map_structure_up_to([None, [None, None]], str, deep) == [
        "[1, 1]",
        ["2", "2"],
    ]
    shapes = {"a": (None, 3), "b": [(2,), (4, 5)]}
    assert shoal.tree.map_shape_structure(len, shapes) == keras.tree.map_shape_structure(
        len, shapes
    )


def test_tree_structure_checks():
    shoal.tree.assert_same_structure([(0, 1)], [(2, 3)])
    shoal.tree.assert_same_structure({"a": 1}, collections.OrderedDict(a=2))
    for a, b in [([0, 1], (0, 1)), ([0, 1], [0, 1, 2]), ({"a": 1}, {"b": 1}), ([1], [[1]])]:
        with pytest.raises(ValueError):
            keras.tree.assert_same_structure(a, b)
        with pytest.raises(ValueError):
            shoal.tree.assert_same_structure(a, b)
    shoal.tree.assert_same_paths([0, 1], (2, 3))
    with pytest.raises(ValueError, match="missing"):
        shoal.tree.assert_same_paths({"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="same nested structure"):
        shoal.tree.map_structure(lambda a, b: a, [1, 2], [1, [2]])
    with pytest.raises(ValueError, match="has 2 items"):
        shoal.tree.pack_sequence_as([1, 2, 3], [1, 2])
    with pytest.raises(TypeError, match="func"):
        shoal.tree.map_structure(3, [1])


# -- backend helpers and scopes --------------------------------------------------------

DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")  # Keras' own calls
def test_result_type_equals_keras():
    for a in DTYPES:
        for b in DTYPES:
            assert shoal.backend.result_type(a, b) == keras.backend.result_type(a, b), (a, b)
    for args in [(), (int,), (float, "int8"), (float, "float16"), (int, "uint8"), (bool,)]:
        assert shoal.backend.result_type(*args) == keras.backend.result_type(*args), args
    assert shoal.backend.is_float_dtype("bfloat16") and not shoal.backend.is_int_dtype("bool")


def test_get_uid_counts_per_prefix():
    prefix = "test_get_uid_prefix"
    first = shoal.backend.get_uid(prefix)
    assert shoal.backend.get_uid(prefix) == first + 1
    assert shoal.backend.get_uid(prefix + "_other") == 1


def test_name_scope_prefixes_variable_paths():
    with shoal.name_scope("outer"):
        with shoal.name_scope("inner"):
            v = shoal.Variable(1.0, name="w")
        u = shoal.Variable(1.0, name="u")
    with keras.name_scope("outer"):
        with keras.name_scope("inner"):
            kv = keras.Variable(1.0, name="w")
    assert v.path == kv.path == "outer/inner/w"
    assert u.path == "outer/u"
    assert shoal.Variable(1.0, name="free").path == "free"
    layer = shoal.layers.Dense(2, name="dense_in_scope")
    with shoal.name_scope("ignored"):
        layer.build((None, 3))
    assert layer.kernel.path == "ignored/dense_in_scope/kernel"  # as Keras 3.15
    with pytest.raises(ValueError, match="'name'"):
        shoal.name_scope("a/b")


def test_stateless_scope_takes_keras_pairs():
    v = shoal.Variable(np.zeros(2, "float32"))
    with shoal.StatelessScope(state_mapping=[(v, np.ones(2, "float32"))]) as scope:
        np.testing.assert_array_equal(v.value, [1, 1])
        v.assign(v.value + 1)
    np.testing.assert_array_equal(scope.get_current_value(v), [2, 2])
    np.testing.assert_array_equal(v.value, [0, 0])


def test_device_scope_and_remat():
    with shoal.device("cpu:0"):
        x = shoal.ops.ones((2,))
    assert x.devices() == {jax.devices("cpu")[0]}
    with pytest.raises(ValueError, match="device_name"):
        with shoal.device("cpu:99"):
            pass

    def f(x):
        return jax.numpy.sin(x) ** 2

    x = np.linspace(0, 1, 5, dtype="float32")
    np.testing.assert_allclose(
        jax.grad(lambda x: shoal.remat(f)(x).sum())(x), jax.grad(lambda x: f(x).sum())(x)
    )


def test_top_level_names_are_the_base_classes():
    assert shoal.Loss is shoal.losses.Loss and shoal.Metric is shoal.metrics.Metric
    assert shoal.Optimizer is shoal.optimizers.Optimizer
    assert shoal.Initializer is shoal.initializers.Initializer
    assert shoal.Regularizer is shoal.regularizers.Regularizer
    assert isinstance(shoal.version(), str)
    policy = shoal.dtype_policies.get("mixed_bfloat16")
    assert (policy.compute_dtype, policy.variable_dtype) == ("bfloat16", "float32")
    config = shoal.dtype_policies.serialize(policy)
    assert config == keras.dtype_policies.serialize(keras.dtype_policies.get("mixed_bfloat16"))
    assert shoal.dtype_policies.deserialize(config) == policy
    assert isinstance(shoal.FloatDTypePolicy("float16"), shoal.DTypePolicy)


# -- config switches -------------------------------------------------------------------


def test_max_epochs_and_steps_cap_fit_and_predict():
    model = shoal.Sequential([shoal.Input((4,)), shoal.layers.Dense(1)])
    model.compile("sgd", "mse")
    batches = []
    callback = shoal.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    shoal.config.set_max_epochs(2)
    shoal.config.set_max_steps_per_epoch(3)
    try:
        history = model.fit(
            np.ones((100, 4)),
            np.ones((100, 1)),
            epochs=5,
            batch_size=10,
            callbacks=[callback],
            verbose=0,
        )
        predicted = model.predict(np.ones((100, 4)), batch_size=10, verbose=0)
    finally:
        shoal.config.set_max_epochs(None)
        shoal.config.set_max_steps_per_epoch(None)
    # Keras 3.15 gives the same: 2 epochs of batches 0-2, 30 rows predicted.
    assert len(history.history["loss"]) == 2 and batches == [0, 1, 2, 0, 1, 2]
    assert predicted.shape == (30, 1)
    assert shoal.config.max_epochs() is None
    with pytest.raises(ValueError, match="positive integer"):
        shoal.config.set_max_epochs(0)


def test_config_switches():
    shoal.config.disable_interactive_logging()
    assert not shoal.utils.is_interactive_logging_enabled()
    shoal.utils.enable_interactive_logging()
    assert shoal.config.is_interactive_logging_enabled()
    assert shoal.config.is_flash_attention_enabled() is None
    shoal.config.enable_flash_attention()
    try:
        assert shoal.config.is_flash_attention_enabled() is True
        q = np.ones((1, 2, 1, 4), "float32")
        with pytest.raises(Exception):  # noqa: B017 - the cuDNN kernel: no GPU here
            shoal.ops.dot_product_attention(q, q, q)
        shoal.config.disable_flash_attention()
        assert shoal.ops.dot_product_attention(q, q, q).shape == q.shape
    finally:
        run_settings._SETTINGS["flash_attention"] = None
    shoal.config.set_backend("jax")
    with pytest.raises(ValueError, match="'backend'"):
        shoal.config.set_backend("torch")
    assert shoal.config.is_nnx_enabled() is False


# -- Progbar ---------------------------------------------------------------------------


def test_progbar_averages_like_keras(capsys):
    bar = shoal.utils.Progbar(4, stateful_metrics=["acc"])
    for step in range(3):
        bar.update(step + 1, values=[("loss", float(step)), ("acc", float(step))])
    # averaged: (0 + 1 + 2) / 3; stateful: the last value
    assert bar._values["loss"] == [3.0, 3] and bar._values["acc"] == [2.0, 1]
    bar.add(1, values=[("loss", 9.0)])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("4/4") and "loss: 9.0000" in line and "acc: 2.0000" in line
    quiet = shoal.utils.Progbar(None, verbose=2, stateless_metrics=["loss"])
    quiet.update(2, values=[("loss", 1.0), ("lr", 0.5)])
    quiet.update(4, values=[("loss", 3.0), ("lr", 0.1)], finalize=True)
    assert capsys.readouterr().out.strip().startswith("4 - ")
    with pytest.raises(ValueError, match="stateful_metrics"):
        shoal.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


# -- image files -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    pixels = np.random.default_rng(0).integers(0, 256, (9, 14, 3)).astype("uint8")
    path = tmp_path_factory.mktemp("images") / "picture.png"
    keras.utils.save_img(str(path), pixels, scale=False)
    return path, pixels


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"color_mode": "grayscale"},
        {"color_mode": "rgba"},
        {"target_size": (5, 6)},
        {"target_size": (6, 5), "interpolation": "bilinear", "keep_aspect_ratio": True},
        {"target_size": (7, 4), "interpolation": "bicubic"},
    ],
)
def test_load_img_equals_keras(image_file, kwargs):
    path, pixels = image_file
    ours = shoal.utils.img_to_array(shoal.utils.load_img(path, **kwargs))
    theirs = keras.utils.img_to_array(keras.utils.load_img(path, **kwargs))
    np.testing.assert_array_equal(ours, theirs)
    if not kwargs:
        np.testing.assert_array_equal(ours, pixels)


def test_array_image_round_trips_equal_keras(tmp_path):
    rng = np.random.default_rng(1)
    for channels in (1, 3, 4):
        x = rng.uniform(-1, 3, (5, 7, channels)).astype("float32")
        for data_format in ("channels_last", "channels_first"):
            arr = x if data_format == "channels_last" else np.moveaxis(x, -1, 0)
            ours = shoal.utils.array_to_img(arr, data_format=data_format)
            theirs = keras.utils.array_to_img(arr, data_format=data_format)
            assert ours.mode == theirs.mode
            np.testing.assert_array_equal(
                shoal.utils.img_to_array(ours, data_format=data_format),
                keras.utils.img_to_array(theirs, data_format=data_format),
            )
    big = np.full((3, 3, 1), 1000.0, "float32")
    assert shoal.utils.array_to_img(big, scale=False).mode == "I"
    with pytest.warns(UserWarning, match="alpha"):
        shoal.utils.save_img(tmp_path / "a.jpg", rng.uniform(0, 255, (4, 4, 4)), scale=False)
    assert shoal.utils.load_img(tmp_path / "a.jpg").size == (4, 4)
    with pytest.raises(ValueError, match="'x'"):
        shoal.utils.array_to_img(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="'color_mode'"):
        shoal.utils.load_img(tmp_path / "a.jpg", color_mode="cmyk")
    with pytest.raises(ValueError, match="'interpolation'"):
        shoal.utils.load_img(tmp_path / "a.jpg", target_size=(2, 2), interpolation="area")
    with pytest.raises(ValueError, match="'target_size'"):
        shoal.utils.load_img(tmp_path / "a.jpg", target_size=(2,))


def test_smart_resize_and_preprocessing_namespace():
    x = np.random.default_rng(2).uniform(0, 1, (2, 9, 14, 3)).astype("float32")
    np.testing.assert_allclose(
        shoal.preprocessing.image.smart_resize(x, (5, 5)),
        keras.preprocessing.image.smart_resize(x, (5, 5)),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        shoal.preprocessing.image.smart_resize(x[0], (6, 4), interpolation="nearest"),
        keras.preprocessing.image.smart_resize(x[0], (6, 4), interpolation="nearest"),
        rtol=1e-6,
    )
    assert shoal.preprocessing.sequence.pad_sequences([[1, 2], [3]]).tolist() == [[1, 2], [0, 3]]
    assert shoal.preprocessing.image_dataset_from_directory is (
        shoal.utils.image_dataset_from_directory
    )
    with pytest.raises(ValueError, match="'x'"):
        shoal.preprocessing.image.smart_resize(np.zeros((3, 3)), (2, 2))


# -- plot_model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_input_model():
    a = shoal.Input((4,), name="a")
    b = shoal.Input((3,), name="b")
    x = shoal.layers.Dense(5, activation="relu", name="d1")(a)
    y = shoal.layers.concatenate([x, b], name="cat")
    return shoal.Model([a, b], shoal.layers.Dense(1, name="out")(y), name="two_inputs")


def test_plot_model_writes_the_layer_graph_as_dot(two_input_model, tmp_path):
    path = tmp_path / "model.dot"
    assert shoal.utils.plot_model(two_input_model, str(path), show_shapes=True) is None
    text = path.read_text()
    assert text.startswith('digraph "two_inputs" {')
    edges = [line.strip() for line in text.splitlines() if "->" in line]
    assert edges == ['"a" -> "d1";', '"d1" -> "cat";', '"b" -> "cat";', '"cat" -> "out";']
    assert "Input shape: [(None, 5), (None, 3)]" in text and "Output shape: (None, 8)" in text
    plain = (tmp_path / "plain.gv").as_posix()
    shoal.utils.plot_model(two_input_model, plain, show_layer_names=False, rankdir="LR")
    text = (tmp_path / "plain.gv").read_text()
    assert "<b>Dense</b>" in text and "d1" not in text.split("->")[0].split("label")[2]
    with pytest.raises(ValueError, match="'rankdir'"):
        shoal.utils.plot_model(two_input_model, plain, rankdir="UP")
    with pytest.raises(ValueError, match="not built"):
        shoal.utils.plot_model(shoal.Sequential([shoal.layers.Dense(1)]), plain)


def test_plot_model_renders_with_graphviz_or_says_what_is_missing(
    two_input_model, tmp_path, monkeypatch
):
    from shoal.utils import model_visualization

    monkeypatch.setattr(model_visualization.shutil, "which", lambda name: None)
    with pytest.raises(ImportError, match="Graphviz"):
        shoal.utils.plot_model(two_input_model, str(tmp_path / "m.png"))
    # A stand-in `dot` that records its arguments and input, as Graphviz would be called.
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\necho "$@" > "$3.args"\ncat > "$3"\n')
    fake.chmod(0o755)
    monkeypatch.setattr(model_visualization.shutil, "which", lambda name: str(fake))
    target = tmp_path / "m.svg"
    shoal.utils.plot_model(two_input_model, str(target))
    assert (tmp_path / "m.svg.args").read_text().split() == ["-Tsvg", "-o", str(target)]
    assert target.read_text().startswith("digraph")


def test_positional_orders_and_argument_names_follow_keras():
    import inspect

    import keras

    import shoal

    for name in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "InputLayer"):
        ours = list(inspect.signature(getattr(shoal.layers, name).__init__).parameters)[:8]
        theirs = list(inspect.signature(getattr(keras.layers, name).__init__).parameters)[:8]
        assert ours == theirs, name
    assert (
        list(inspect.signature(shoal.Input).parameters)[:5]
        == list(inspect.signature(keras.Input).parameters)[:5]
    )
    layer = shoal.layers.Conv3DTranspose(2, 3, 1, "valid", "channels_last")
    assert layer.data_format == "channels_last"
    assert shoal.losses.deserialize(name="mse") is shoal.losses.mean_squared_error


def test_seeded_random_draws_equal_keras():
    """Seeds are Keras' raw keys ([seed, count]): int seeds, SeedGenerators and seeded
    layers draw Keras' very values."""
    import keras

    import shoal

    cases = [
        ("normal", ((2, 3),), {}),
        ("uniform", ((2, 3),), {"minval": -1.0, "maxval": 2.0}),
        ("truncated_normal", ((4,),), {}),
        ("randint", ((5,), 0, 10), {}),
        ("categorical", (np.log(np.array([[0.2, 0.8], [0.5, 0.5]], "float32")), 4), {}),
        ("gamma", ((3,), 2.0), {}),
        ("dropout", (np.ones((2, 8), "float32"), 0.5), {}),
        ("shuffle", (np.arange(6),), {}),
    ]
    for name, args, kwargs in cases:
        for seed in (7, "generator"):
            ours_seed = shoal.random.SeedGenerator(7) if seed == "generator" else seed
            theirs_seed = keras.random.SeedGenerator(7) if seed == "generator" else seed
            ours = getattr(shoal.random, name)(*args, **kwargs, seed=ours_seed)
            theirs = getattr(keras.random, name)(*args, **kwargs, seed=theirs_seed)
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=f"{name} {seed}")
    generator = shoal.random.SeedGenerator(3)
    assert np.asarray(generator.next()).tolist() == [3, 0]
    x = np.ones((2, 8), "float32")
    np.testing.assert_array_equal(
        shoal.layers.Dropout(0.5, seed=3)(x, training=True),
        keras.layers.Dropout(0.5, seed=3)(x, training=True),
    )


def test_new_top_level_and_utils_names_are_listed_as_in_keras():
    import keras

    import shoal

    for name in ("RematScope", "SymbolicScope", "Function", "remat"):
        assert name in dir(keras) and name in dir(shoal), name
        assert getattr(shoal, name) is not None
    for name in ("split_dataset", "Config", "audio_dataset_from_directory"):
        assert name in dir(keras.utils) and name in dir(shoal.utils), name
    assert "initialize" in dir(keras.distribution) and "initialize" in dir(shoal.distribution)
    assert {"LayoutMap", "process_index"} <= set(dir(shoal.distribution))


def test_keras2_legacy_names_say_what_to_use():
    assert "legacy" in dir(shoal.optimizers) and "legacy" in dir(shoal.utils)
    for name in ("Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"):
        with pytest.raises(ImportError, match="not supported in Keras 3 or shoal: use"):
            getattr(shoal.optimizers.legacy, name)(learning_rate=0.1)
        with pytest.raises(ImportError):
            getattr(keras.optimizers.legacy, name)()
    layer = shoal.layers.Dense(2, name="d")
    assert shoal.utils.legacy.serialize_keras_object(layer) == (
        keras.utils.legacy.serialize_keras_object(keras.layers.Dense(2, name="d"))
    )


# -- keyword arguments -----------------------------------------------------------------


# Keras parameters shoal does not take: a per-variable DTensor layout (shoal places
# variables by the Distribution's LayoutMap, keyed by variable path).
_KERAS_ONLY_PARAMETERS = {"Variable": {"layout"}}


def _public_callables(keras_module, shoal_module, prefix="", depth=0, seen=None):
    import inspect

    seen = set() if seen is None else seen
    for name in dir(keras_module):
        theirs, ours = getattr(keras_module, name), getattr(shoal_module, name, None)
        if name.startswith("_") or ours is None or id(theirs) in seen:
            continue
        seen.add(id(theirs))
        if inspect.ismodule(theirs):
            if depth < 3 and theirs.__name__.startswith("keras"):
                yield from _public_callables(theirs, ours, f"{prefix}{name}.", depth + 1, seen)
        elif callable(theirs):
            yield f"{prefix}{name}", theirs, ours


def _named_parameters(fn):
    import inspect

    try:
        signature = inspect.signature(fn.__init__ if inspect.isclass(fn) else fn)
    except (TypeError, ValueError):
        return None, False
    kinds = {p.kind for p in signature.parameters.values()}
    named = [
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
    ]
    return named, inspect.Parameter.VAR_KEYWORD in kinds


def test_every_keras_keyword_argument_is_taken():
    # A Keras program may pass any documented argument by name: shoal's functions and
    # classes take each one (explicitly, or through **kwargs that a base class checks).
    missing = {}
    for path, theirs, ours in _public_callables(keras, shoal):
        their_names, _ = _named_parameters(theirs)
        our_names, our_kwargs = _named_parameters(ours)
        if their_names is None or our_names is None or our_kwargs:
            continue
        exempt = _KERAS_ONLY_PARAMETERS.get(path.rsplit(".", 1)[-1], set())
        lacking = [p for p in their_names if p not in our_names and p not in exempt]
        if lacking:
            missing[path] = lacking
    assert missing == {}


def test_dataset_format_and_backend_arguments():
    series = np.arange(10, dtype="float32")
    ds = shoal.utils.timeseries_dataset_from_array(series, None, 3, batch_size=4, format="tf")
    assert next(iter(ds)).tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    grain = shoal.utils.timeseries_dataset_from_array(series, None, 3, batch_size=4, format="grain")
    assert next(iter(grain)).tolist() == next(iter(ds)).tolist()
    with pytest.raises(ValueError, match="'format'.*got 'torch'"):
        shoal.utils.timeseries_dataset_from_array(series, None, 3, format="torch")
    left, right = shoal.utils.split_dataset(series, left_size=0.8, preferred_backend="tensorflow")
    assert (len(left), len(right)) == (8, 2)
    before = shoal.config.image_data_format()
    shoal.backend.set_image_data_format(data_format="channels_first")
    assert shoal.config.image_data_format() == "channels_first"
    shoal.backend.set_image_data_format(before)
    shoal.backend.clear_session(free_memory=False)
    with pytest.raises(ValueError, match="'ragged' must be False"):
        shoal.KerasTensor((None, 2), ragged=True)
    assert shoal.KerasTensor((None, 2), ragged=False).ragged is False


# Keras internals a program does not reach for (quantization / remat hooks, serialization
# specs, TensorFlow ragged tensors).
_INTERNAL_ATTRIBUTES = {
    "quantized_build",
    "quantized_call",
    "rematerialized_call",
    "variable_serialization_spec",
    "inner_loop",
    "get_quantization_layer_structure",
    "ragged_rank",
    "row_splits_dtype",
}


def _instances(k):
    dense = k.layers.Dense(2)
    dense(np.ones((1, 3), "float32"))
    lstm = k.layers.LSTM(2)
    lstm(np.ones((1, 2, 3), "float32"))
    embedding = k.layers.Embedding(5, 2)
    embedding(np.ones((1, 3), "int32"))
    inputs = k.Input((3,))
    model = k.Model(inputs, k.layers.Dense(2)(inputs))
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    return {"dense": dense, "lstm": lstm, "embedding": embedding, "model": model, "tensor": inputs}


def test_instances_have_every_public_keras_attribute():
    ours, theirs = _instances(shoal), _instances(keras)
    missing = {}
    for kind, their in theirs.items():
        lacking = []
        for name in dir(their):
            if name.startswith("_") or name in _INTERNAL_ATTRIBUTES:
                continue
            try:
                getattr(their, name)
            except Exception:  # noqa: BLE001 - Keras' own property may raise here
                continue
            if not hasattr(ours[kind], name):
                lacking.append(name)
        if lacking:
            missing[kind] = lacking
    assert missing == {}
    model = ours["model"]
    assert model.operations == model.layers and model.train_function is not None
    model.train_function = None
    assert model.train_function is None
    with pytest.raises(ValueError, match="'train_function' can only be set to None"):
        model.train_function = lambda data: data
    with pytest.raises(NotImplementedError, match="add_metric"):
        ours["dense"].add_metric(1.0)
    assert ours["dense"].call_signature_parameters == theirs["dense"].call_signature_parameters
    assert ours["lstm"].input_dtype == theirs["lstm"].input_dtype
