"""Symbolic shape inference where unknown (None) sizes meet known ones: shoal's KerasTensor
shapes for ops called on KerasTensors equal Keras 3.15's (symbolic only, nothing compiles)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402
from shoal.backend.symbolic import KerasTensor  # noqa: E402

I32 = "int32"

# name -> fn(ops, K) with K(shape, dtype="float32") making a KerasTensor of that namespace.
CASES = {
    "add_none_meets_known": lambda o, K: o.add(K((None, 3)), K((2, None))),
    "add_none_meets_one": lambda o, K: o.add(K((None, 3)), K((1, 3))),
    "multiply_rank_broadcast": lambda o, K: o.multiply(K((None, 3)), K((4, 2, 3))),
    "maximum_none_meets_known": lambda o, K: o.maximum(K((None, 3)), K((5, 3))),
    "greater": lambda o, K: o.greater(K((None, 3)), K((2, None))),
    "where": lambda o, K: o.where(K((2, None, 1), "bool"), K((None, 1)), K((None, 3))),
    "where_broadcast": lambda o, K: o.where(K((None, 1), "bool"), K((1, 5)), K((3, 1))),
    "inner": lambda o, K: o.inner(K((None,)), K((3,))),
    "dot_vectors": lambda o, K: o.dot(K((None,)), K((5,))),
    "dot_matrix": lambda o, K: o.dot(K((None, 3)), K((3, 2))),
    "vdot": lambda o, K: o.vdot(K((None,)), K((3,))),
    "matmul_batched": lambda o, K: o.matmul(K((None, 3, 4)), K((None, 4, 5))),
    "matmul_vector": lambda o, K: o.matmul(K((4,)), K((2, 4, 5))),
    "einsum_contract_none": lambda o, K: o.einsum("ij,jk->ik", K((None, 3)), K((None, 4))),
    "einsum_none_in_first": lambda o, K: o.einsum("ij,jk->ik", K((2, None)), K((3, 4))),
    "cross": lambda o, K: o.cross(K((2, 3, 3)), K((None, 1, 2))),
    "linspace": lambda o, K: o.linspace(K((None, 3, 4)), K((2, 3, 4)), 10, axis=1),
    "broadcast_to": lambda o, K: o.broadcast_to(K((None, 3)), (2, 3, 3)),
    "concatenate_axis0": lambda o, K: o.concatenate([K((None, 3)), K((2, 3))]),
    "vstack": lambda o, K: o.vstack([K((None, 3)), K((None, None))]),
    "dstack": lambda o, K: o.dstack([K((None, 3)), K((None, None))]),
    "reshape_fixed": lambda o, K: o.reshape(K((None, 3)), (3, 2)),
    "reshape_minus_one": lambda o, K: o.reshape(K((None, 3)), (3, -1)),
    "take_along_axis": lambda o, K: o.take_along_axis(K((None, 3)), K((2, None), I32), axis=1),
    "take": lambda o, K: o.take(K((None, 3, None, 5)), K((6, 7), I32), axis=2),
    "tile": lambda o, K: o.tile(K((None, 3)), (2, 2)),
    "repeat": lambda o, K: o.repeat(K((None, 3)), 2, axis=1),
    "pad": lambda o, K: o.pad(K((None, 3)), ((1, 1), (2, 2))),
    "outer": lambda o, K: o.outer(K((None,)), K((3,))),
    "kron": lambda o, K: o.kron(K((None, 2)), K((3, 3))),
    "get_item_slice_of_none": lambda o, K: K((None, 5, 16))[:5, 3:, 3:12:2],
    "get_item_int": lambda o, K: K((None, 5, 16))[5],
    "diag_of_none_rows": lambda o, K: o.diag(K((None, 3))),
    "segment_sum_unknown_count": lambda o, K: o.segment_sum(K((None, 4)), K((10,), I32)),
    "segment_max_known_count": lambda o, K: o.segment_max(K((None, 4)), K((10,), I32), 5),
    "unique_inverse": lambda o, K: o.unique(K((None, 3)), return_inverse=True, return_counts=True),
    "unique_inverse_axis": lambda o, K: o.unique(K((None, 3)), return_inverse=True, axis=1),
    "pad_images_to_target": lambda o, K: o.image.pad_images(
        K((None, None, 3)), 2, 3, target_height=20, target_width=30
    ),
    "crop_images_to_target": lambda o, K: o.image.crop_images(
        K((None, None, 3)), 1, 1, target_height=4, target_width=4
    ),
    "resize": lambda o, K: o.image.resize(K((None, None, None, 3)), (5, 6)),
    "conv_unknown_spatial": lambda o, K: o.conv(K((None, None, 5, 3)), K((3, 3, 3, 4)), 2, "same"),
    "max_pool_unknown_spatial": lambda o, K: o.max_pool(K((None, None, 7, 3)), 2, 2),
}


def _shapes(out):
    if isinstance(out, (list, tuple)):
        return [t.shape for t in out]
    return out.shape


@pytest.mark.parametrize("case", sorted(CASES))
def test_symbolic_shape_matches_keras(case):
    fn = CASES[case]
    got = fn(shoal.ops, lambda shape, dtype="float32": KerasTensor(shape, dtype=dtype))
    want = fn(keras.ops, lambda shape, dtype="float32": keras.KerasTensor(shape, dtype=dtype))
    assert _shapes(got) == _shapes(want)


@pytest.mark.parametrize("layer", ["Add", "Multiply"])
def test_merging_layers_broadcast_none_with_known_as_keras(layer):
    def shape(namespace):
        K = namespace.KerasTensor
        return getattr(namespace.layers, layer)()([K((None, 3)), K((2, 3))]).shape

    assert shape(shoal) == shape(keras) == (2, 3)


def test_a_none_the_op_does_not_tie_to_a_known_size_stays_unknown():
    # Concatenating along axis 1 ties the batch sizes (so it is 2) but not the second
    # input's axis-1 size. Keras says (None, None): shoal is more precise, and right.
    x, y = KerasTensor((None, 3)), KerasTensor((2, None))
    assert shoal.ops.concatenate([x, y], axis=1).shape == (2, None)
    assert shoal.ops.take_along_axis(x, KerasTensor((2, None), I32), axis=1).shape == (2, None)


def test_sizes_that_cannot_match_still_raise():
    with pytest.raises(TypeError, match="incompatible shapes"):
        shoal.ops.add(KerasTensor((None, 3)), KerasTensor((2, 4)))
    with pytest.raises(ValueError, match="must hold non-negative integers"):
        shoal.ops.reshape(KerasTensor((None, 3)), (-2, 3))
