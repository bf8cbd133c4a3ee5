"""Merge layers against Keras 3 (JAX backend): values, shapes, masks and errors."""

import types

import jax.numpy as jnp
import keras
import numpy as np
import pytest
from harness import make_input, run_layer_test
from keras.src import backend as kbackend

import shoal
from shoal.layers import merging as M

S = (2, 3, 4)

# (layer class, init kwargs, input shapes, expected output shape)
CASES = [
    (M.Add, {}, [S, S], S),
    (M.Add, {}, [S, S, S], S),
    (M.Add, {}, [S, (2, 1, 4)], S),
    (M.Add, {}, [S, (2, 4)], S),  # lower rank: a size-1 axis goes in after the batch axis
    (M.Subtract, {}, [S, S], S),
    (M.Subtract, {}, [(2, 1, 4), S], S),
    (M.Multiply, {}, [S, S, S], S),
    (M.Average, {}, [S, S, S], S),
    (M.Average, {}, [(2, 3, 1), (2, 1, 4)], S),
    (M.Maximum, {}, [S, S, S], S),
    (M.Minimum, {}, [S, S], S),
    (M.Minimum, {}, [(2, 4), S], S),
    (M.Concatenate, {}, [S, (2, 3, 2)], (2, 3, 6)),
    (M.Concatenate, {"axis": 1}, [S, (2, 1, 4), S], (2, 7, 4)),
    (M.Dot, {"axes": -1}, [(2, 4), (2, 4)], (2, 1)),
    (M.Dot, {"axes": (1, 2)}, [(2, 3, 5), (2, 4, 3)], (2, 5, 4)),
    (M.Dot, {"axes": 2, "normalize": True}, [S, (2, 2, 4)], (2, 3, 2)),
    (M.Dot, {"axes": [3, 1]}, [(2, 3, 2, 4), (2, 4, 3)], (2, 3, 2, 3)),
]


def _case_id(case):
    cls, kwargs, shapes, _ = case
    args = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{cls.__name__}({args})-" + "-".join(map(str, shapes))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_layer_matches_keras(case):
    cls, kwargs, shapes, expected = case
    run_layer_test(cls, kwargs, input_shape=shapes, expected_output_shape=expected)


FUNCTIONAL = [
    (M.add, M.Add, {}),
    (M.subtract, M.Subtract, {}),
    (M.multiply, M.Multiply, {}),
    (M.average, M.Average, {}),
    (M.maximum, M.Maximum, {}),
    (M.minimum, M.Minimum, {}),
    (M.concatenate, M.Concatenate, {"axis": 1}),
    (M.dot, M.Dot, {"axes": 2, "normalize": True}),
]


@pytest.mark.parametrize("fn, cls, kwargs", FUNCTIONAL, ids=[f[0].__name__ for f in FUNCTIONAL])
def test_functional_forms(fn, cls, kwargs):
    xs = [make_input(S, seed=0), make_input(S, seed=1)]
    out = fn(xs, name=f"my_{fn.__name__}", **kwargs)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(cls(**kwargs)(xs)))
    ref = getattr(keras.layers, fn.__name__)(xs, **kwargs)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5, atol=1e-6)
    sym = fn([shoal.Input(shape=S[1:]), shoal.Input(shape=S[1:])], **kwargs)
    assert sym.shape == (None,) + tuple(out.shape[1:])
    layer = sym._keras_history[0]
    assert isinstance(layer, cls)


def test_dot_default_axes_is_last():
    xs = [make_input((2, 4), seed=0), make_input((2, 4), seed=1)]
    out = M.dot(xs)
    np.testing.assert_allclose(np.asarray(out), np.sum(xs[0] * xs[1], -1, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("cls", [M.Add, M.Maximum, M.Concatenate])
def test_config_matches_keras(cls):
    ours = cls(name="m").get_config()
    theirs = getattr(keras.layers, cls.__name__)(name="m").get_config()
    assert ours == theirs
    ours = M.Dot(axes=(1, 2), normalize=True, name="d").get_config()
    assert ours == keras.layers.Dot(axes=(1, 2), normalize=True, name="d").get_config()


def test_symbolic_shapes_and_dtypes():
    a = shoal.Input(shape=(None, 4), dtype="int32")
    b = shoal.Input(shape=(3, 1), dtype="int32")
    added = M.Add()([a, b])
    # As in Keras, an unknown size broadcast against a known one stays unknown.
    assert added.shape == (None, None, 4) and added.dtype == "int32"
    assert M.Average()([a, b]).dtype == "float32"
    assert M.Concatenate(axis=1)([a, a]).shape == (None, None, 4)
    c = shoal.Input(shape=(None, 4))
    assert M.Concatenate(axis=1)([c, shoal.Input(shape=(2, 4))]).shape == (None, None, 4)
    assert M.Dot(axes=2)([c, shoal.Input(shape=(5, 4))]).shape == (None, None, 5)


def test_int_inputs_eager():
    x = np.arange(6, dtype="int32").reshape(2, 3)
    assert M.Add()([x, x]).dtype == np.int32
    np.testing.assert_allclose(np.asarray(M.Average()([x, x + 1])), x + 0.5)


# -- masks ----------------------------------------------------------------------------------

M1 = np.array([[True, False, True], [False, False, True]])
M2 = np.array([[True, True, False], [False, True, False]])


def _keras_masked(cls_name, xs, masks, **kwargs):
    tensors = [jnp.asarray(x) for x in xs]
    for t, m in zip(tensors, masks, strict=True):
        if m is not None:
            kbackend.set_keras_mask(t, jnp.asarray(m))
    layer = getattr(keras.layers, cls_name)(**kwargs)
    out = layer(tensors)
    return np.asarray(out), layer.compute_mask(
        tensors, [None if m is None else jnp.asarray(m) for m in masks]
    )


MASKED = [
    ("Add", {}, [M1, M2]),
    ("Average", {}, [M1, None]),
    ("Subtract", {}, [None, M2]),
    ("Maximum", {}, [M1, M2]),
    ("Maximum", {}, [None, M2]),
    ("Minimum", {}, [M1, M2]),
    ("Minimum", {}, [M1, None]),
    ("Multiply", {}, [M1, M2]),
    ("Multiply", {}, [None, M2]),
    ("Concatenate", {}, [M1, M2]),
    ("Concatenate", {"axis": 1}, [M1, None]),
    ("Dot", {"axes": 2}, [M1, M2]),
]


@pytest.mark.parametrize("name, kwargs, masks", MASKED)
def test_masks_match_keras(name, kwargs, masks):
    xs = [make_input(S, seed=0), make_input(S, seed=1)]
    layer = getattr(M, name)(**kwargs)
    out = layer(xs, mask=masks)
    out_mask = layer.compute_mask(xs, masks)
    ref, ref_mask = _keras_masked(name, xs, masks, **kwargs)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-6, atol=1e-6)
    if ref_mask is None:
        assert out_mask is None
    else:
        np.testing.assert_array_equal(np.asarray(out_mask), np.asarray(ref_mask))


def test_symbolic_mask_propagation():
    a, b = shoal.Input(shape=(3, 4)), shoal.Input(shape=(3, 4))
    a._keras_mask = shoal.KerasTensor((None, 3), dtype="bool")
    b._keras_mask = shoal.KerasTensor((None, 3), dtype="bool")
    assert M.Add()([a, b])._keras_mask.shape == (None, 3)
    assert M.Concatenate(axis=1)([a, b])._keras_mask.shape == (None, 6)
    assert M.Dot(axes=2)([a, b])._keras_mask is None
    c = shoal.Input(shape=(3, 4))  # no mask: elementwise merges drop the mask
    assert M.Maximum()([a, c])._keras_mask is None
    assert M.Concatenate()([a, c])._keras_mask.shape == (None, 3)


# -- errors ---------------------------------------------------------------------------------

BAD_CONSTRUCTION = [
    (
        lambda: M.Concatenate(axis="1"),
        r"Concatenate '.*': argument 'axis' must be an integer, "
        r"got '1'",
    ),
    (
        lambda: M.Dot(axes=0),
        r"Dot '.*': argument 'axes' must be an integer or a pair of "
        r"integers, none of them 0 \(the batch axis\), got 0",
    ),
    (lambda: M.Dot(axes=(1, 2, 3)), r"argument 'axes'.*got \(1, 2, 3\)"),
    (lambda: M.Dot(axes=(1, 0)), r"argument 'axes'.*got \(1, 0\)"),
    (lambda: M.Dot(axes="last"), r"argument 'axes'.*got 'last'"),
    (
        lambda: M.Dot(axes=1, normalize="yes"),
        r"Dot '.*': argument 'normalize' must be True or "
        r"False, got 'yes'",
    ),
]


@pytest.mark.parametrize("make, match", BAD_CONSTRUCTION)
def test_bad_arguments_raise_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


BAD_CALLS = [
    (
        M.Add,
        {},
        [S, (2, 3, 5)],
        r"Add '.*': inputs have incompatible shapes \(2, 3, 4\) and \(2, 3, 5\)",
    ),
    (
        M.Multiply,
        {},
        [S, (2, 1, 4), (2, 2, 4)],
        r"Multiply '.*': inputs have incompatible shapes \(2, 3, 4\) and \(2, 2, 4\)",
    ),
    (
        M.Maximum,
        {},
        [S, (3, 3, 4)],
        r"Maximum '.*': inputs must have the same batch size, got input shapes \(2, 3, 4\), "
        r"\(3, 3, 4\)",
    ),
    (M.Subtract, {}, [S, S, S], r"Subtract '.*': needs exactly 2 inputs, got 3"),
    (M.Subtract, {}, [S], r"Subtract '.*': needs exactly 2 inputs, got 1"),
    (M.Dot, {"axes": 1}, [S, S, S], r"Dot '.*': needs exactly 2 inputs, got 3"),
    (
        M.Concatenate,
        {},
        [S, (2, 2, 4)],
        r"Concatenate '.*': inputs must match on every axis except the concatenation axis -1, "
        r"got shapes \(2, 3, 4\) and \(2, 2, 4\)",
    ),
    (
        M.Concatenate,
        {"axis": 1},
        [S, (2, 4)],
        r"Concatenate '.*': inputs must have the same rank, got shapes \(2, 3, 4\) and \(2, 4\)",
    ),
    (M.Concatenate, {"axis": 3}, [S, S], r"argument 'axis' must be in \[-3, 3\).*got 3"),
    (
        M.Dot,
        {"axes": (1, 2)},
        [S, S],
        r"Dot '.*': inputs have incompatible shapes \(2, 3, 4\) and \(2, 3, 4\): axis 1 of the "
        r"first \(3\) must equal axis 2 of the second \(4\)",
    ),
    (M.Dot, {"axes": 3}, [S, S], r"Dot '.*': argument 'axes' 3 must name a non-batch axis"),
    (M.Dot, {"axes": -3}, [S, S], r"argument 'axes' -3 must name a non-batch axis"),
]


@pytest.mark.parametrize("cls, kwargs, shapes, match", BAD_CALLS)
def test_incompatible_shapes_raise_at_build(cls, kwargs, shapes, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)([np.zeros(s, "float32") for s in shapes])
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)([shoal.Input(batch_shape=s) for s in shapes])
    layer = cls(**kwargs)
    with pytest.raises(ValueError, match=match):
        layer.build(shapes)


def test_merge_needs_a_list():
    with pytest.raises(
        ValueError,
        match=r"Add '.*': a merge layer must be called on a list of "
        r"tensors, got a single input of shape \(2, 3, 4\)",
    ):
        M.Add()(np.zeros(S, "float32"))


def test_mask_list_length_is_checked():
    xs = [np.zeros(S, "float32")] * 2
    with pytest.raises(
        ValueError,
        match=r"Maximum '.*': argument 'mask' must be a list with "
        r"one mask \(or None\) per input \(2\), got 3",
    ):
        M.Maximum()(xs, mask=[M1, M1, M1])


def test_masks_flow_through_a_functional_model_like_keras():
    """Embedding(mask_zero) masks reach the merges: Maximum/Multiply values depend on them."""
    from shoal.layers.embedding import Embedding

    ours_layers = types.SimpleNamespace(
        Embedding=Embedding, Maximum=M.Maximum, Multiply=M.Multiply, Concatenate=M.Concatenate
    )

    def build(lib, layers):
        a = lib.Input(shape=(3,), dtype="int32")
        b = lib.Input(shape=(3,), dtype="int32")
        e1 = layers.Embedding(5, 4, mask_zero=True)(a)
        e2 = layers.Embedding(5, 4, mask_zero=True)(b)
        outs = [layers.Maximum()([e1, e2]), layers.Multiply()([e1, e2])]
        outs.append(layers.Concatenate(axis=1)([e1, e2]))
        return lib.Model([a, b], outs)

    ours = build(shoal, ours_layers)
    theirs = build(keras, keras.layers)
    theirs.set_weights(ours.get_weights())
    xs = [np.array([[1, 0, 2], [0, 0, 3]]), np.array([[0, 2, 0], [0, 1, 0]])]
    for got, want in zip(ours(xs), theirs(xs), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
