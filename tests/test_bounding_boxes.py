"""shoal.utils.bounding_boxes against keras.utils.bounding_boxes (Keras 3.15, JAX)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402

bb = shoal.utils.bounding_boxes
kbb = keras.utils.bounding_boxes

FORMATS = [
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
]
H, W = 48, 64


def _xyxy(rng, shape):
    """Valid xyxy boxes inside a W x H image, shape (..., 4)."""
    x1 = rng.uniform(0, W - 10, shape)
    y1 = rng.uniform(0, H - 10, shape)
    return np.stack(
        [x1, y1, x1 + rng.uniform(1, 10, shape), y1 + rng.uniform(1, 10, shape)], -1
    ).astype("float32")


def _in_format(boxes, fmt):
    return np.asarray(kbb.convert_format(boxes, "xyxy", fmt, height=H, width=W))


@pytest.mark.parametrize("batched", [False, True])
def test_convert_format_every_pair_equals_keras(batched):
    rng = np.random.default_rng(0)
    boxes = _xyxy(rng, (2, 5) if batched else (5,))
    compared = 0
    for source in FORMATS:
        src = _in_format(boxes, source)
        for target in FORMATS:
            mine = bb.convert_format(src, source, target, height=H, width=W)
            ref = kbb.convert_format(src, source, target, height=H, width=W)
            assert mine.shape == src.shape and mine.dtype == ref.dtype
            np.testing.assert_allclose(mine, ref, rtol=1e-6, atol=1e-6, err_msg=(source, target))
            compared += 1
    assert compared == 81
    # a round trip through every format recovers the boxes
    for fmt in FORMATS:
        there = bb.convert_format(boxes, "xyxy", fmt.upper(), height=H, width=W)
        back = bb.convert_format(there, fmt, "xyxy", height=H, width=W)
        np.testing.assert_allclose(back, boxes, rtol=1e-5, atol=1e-4)


def test_convert_format_dict_ints_and_errors():
    boxes = {"boxes": np.array([[10, 20, 30, 40]]), "labels": np.array([3])}
    out = bb.convert_format(boxes, "xyxy", "rel_xywh", height=200, width=100)
    np.testing.assert_allclose(out["boxes"], [[0.1, 0.1, 0.2, 0.1]], rtol=1e-6)
    assert out["labels"] is boxes["labels"] and boxes["boxes"].dtype.kind == "i"
    assert bb.convert_format(boxes["boxes"], "xyxy", "xyxy").dtype == np.float32
    assert bb.convert_format(boxes["boxes"], "xyxy", "xywh", dtype="int32").tolist() == [
        [10, 20, 20, 20]
    ]
    rel = np.array([[0.1, 0.2, 0.5, 0.6]])
    np.testing.assert_allclose(
        bb.convert_format(rel, "rel_xyxy", "rel_center_xywh", height=1, width=1),
        kbb.convert_format(rel, "rel_xyxy", "rel_center_xywh", height=1, width=1),
    )
    with pytest.raises(ValueError, match="'height' and 'width'.*rel_xyxy"):
        bb.convert_format(boxes["boxes"], "xyxy", "rel_xyxy", height=10)
    with pytest.raises(ValueError, match="'source'.*'xxyy'"):
        bb.convert_format(boxes["boxes"], "xxyy", "xyxy")
    with pytest.raises(ValueError, match=r"last dimension of 4.*\(1, 3\)"):
        bb.convert_format(np.zeros((1, 3)), "xyxy", "yxyx")


@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy"])
def test_clip_to_image_size_equals_keras(fmt):
    boxes = np.array(
        [[[-10, -20, 150, 160], [50, 40, 70, 80]], [[130, 5, 140, 9], [0, 0, 5, 5]]], "float32"
    )
    labels = np.array([[0, 1], [2, 3]])
    if fmt == "rel_xyxy":
        boxes = boxes / 100.0
    given = {"boxes": boxes, "labels": labels}
    mine = bb.clip_to_image_size(given, height=100, width=120, bounding_box_format=fmt)
    ref = kbb.clip_to_image_size(
        {"boxes": boxes, "labels": labels}, height=100, width=120, bounding_box_format=fmt
    )
    np.testing.assert_array_equal(mine["boxes"], ref["boxes"])
    np.testing.assert_array_equal(mine["labels"], ref["labels"])
    assert np.asarray(mine["labels"]).tolist() == [[0, 1], [-1, 3]]  # no area left: -1
    assert given["boxes"] is boxes  # the input dict is left alone
    unbatched = bb.clip_to_image_size({"boxes": boxes[1]}, 100, 120, fmt)
    np.testing.assert_array_equal(unbatched["boxes"], mine["boxes"][1])
    assert "labels" not in unbatched
    with pytest.raises(ValueError, match="'height' and 'width'"):
        bb.clip_to_image_size(given)
    with pytest.raises(NotImplementedError, match="'bounding_box_format'"):
        bb.clip_to_image_size(given, 10, 10, bounding_box_format="xywh")


def test_affine_transform_equals_keras():
    rng = np.random.default_rng(1)
    boxes = _xyxy(rng, (3, 4))
    params = dict(
        angle=np.array([0.0, 30.0, -75.0], "float32"),
        translate_x=np.array([0.0, 0.1, -0.2], "float32"),
        translate_y=np.array([0.0, -0.05, 0.3], "float32"),
        scale=np.array([1.0, 1.3, 0.7], "float32"),
        shear_x=np.array([0.0, 10.0, -5.0], "float32"),
        shear_y=np.array([0.0, -20.0, 3.0], "float32"),
    )
    for center in [{}, {"center_x": 0.25, "center_y": 0.8}]:
        mine = bb.affine_transform(boxes, **params, height=H, width=W, **center)
        ref = kbb.affine_transform(boxes, **params, height=H, width=W, **center)
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-4)
    mine = bb.affine_transform(boxes, **params, height=H, width=W)
    np.testing.assert_allclose(mine[0], boxes[0], atol=1e-4)  # identity for image 0
    one = {k: v[1] for k, v in params.items()}
    np.testing.assert_allclose(
        bb.affine_transform(boxes[1], **one, height=H, width=W), mine[1], rtol=1e-6
    )
    with pytest.raises(NotImplementedError, match="'bounding_box_format'"):
        bb.affine_transform(boxes, **params, height=H, width=W, bounding_box_format="yxyx")


@pytest.mark.parametrize("shape", [(5,), (2, 5)])
def test_crop_and_pad_equal_keras(shape):
    boxes = _xyxy(np.random.default_rng(2), shape)
    for args in [(10, 20, 30, 25), (0, 5, None, None)]:
        np.testing.assert_array_equal(bb.crop(boxes, *args), kbb.crop(boxes, *args))
    cropped = np.asarray(bb.crop(boxes, 10, 20, 30, 25))
    assert cropped[..., 0::2].max() <= 25 and cropped[..., 1::2].max() <= 30
    assert cropped.min() >= 0
    np.testing.assert_array_equal(bb.pad(boxes, 3, 7), kbb.pad(boxes, 3, 7))
    np.testing.assert_allclose(
        bb.pad(boxes, 3, 7) - boxes, np.broadcast_to([7, 3, 7, 3], boxes.shape), atol=1e-5
    )
    ints = np.array([[10, 20, 50, 60], [70, 80, 100, 120]])
    assert np.asarray(bb.crop(ints, top=10, left=20, height=40, width=30)).tolist() == (
        np.asarray(kbb.crop(ints, top=10, left=20, height=40, width=30)).tolist()
    )
    with pytest.raises(NotImplementedError):
        bb.pad(boxes, 1, 1, bounding_box_format="xywh")


@pytest.mark.parametrize(
    "anchor_format,box_format,encoding,variance,image_shape",
    [
        ("xyxy", "xyxy", "center_yxhw", None, None),
        ("xywh", "center_xywh", "center_xywh", [0.1, 0.1, 0.2, 0.2], None),
        ("rel_xyxy", "yxyx", "center_yxhw", [0.5, 0.5, 1.0, 1.0], (H, W, 3)),
    ],
)
def test_encode_decode_deltas_equal_keras(
    anchor_format, box_format, encoding, variance, image_shape
):
    rng = np.random.default_rng(3)
    anchors = _in_format(_xyxy(rng, (6,)), anchor_format)
    boxes = _in_format(_xyxy(rng, (2, 6)), box_format)
    args = (anchor_format, box_format, encoding, variance, image_shape)
    deltas = bb.encode_box_to_deltas(anchors, boxes, *args)
    np.testing.assert_allclose(
        deltas, kbb.encode_box_to_deltas(anchors, boxes, *args), rtol=1e-5, atol=1e-6
    )
    decoded = bb.decode_deltas_to_boxes(anchors, deltas, *args)
    np.testing.assert_allclose(
        decoded, kbb.decode_deltas_to_boxes(anchors, deltas, *args), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(decoded, boxes, rtol=1e-4, atol=1e-3)  # the round trip
    levels = bb.decode_deltas_to_boxes({"p3": anchors}, {"p3": deltas[0]}, *args)
    np.testing.assert_allclose(levels["p3"], decoded[0], rtol=1e-6)
    with pytest.raises(ValueError, match="'variance'"):
        bb.encode_box_to_deltas(anchors, boxes, anchor_format, box_format, variance=[1, 1])
    with pytest.raises(ValueError, match="'encoded_format'.*'xyxy'"):
        bb.decode_deltas_to_boxes(anchors, deltas, anchor_format, box_format, "xyxy")


@pytest.mark.parametrize("shapes", [((4,), (3,)), ((2, 4), (3,)), ((4,), (2, 3)), ((2, 4), (2, 3))])
def test_compute_iou_ranks_and_masking_equal_keras(shapes):
    rng = np.random.default_rng(4)
    boxes1, boxes2 = _xyxy(rng, shapes[0]), _xyxy(rng, shapes[1])
    boxes2[..., 0, :] = boxes1[..., 0, :] if len(shapes[0]) == len(shapes[1]) else boxes2[..., 0, :]
    for fmt in ["xyxy", "center_yxhw", "rel_xywh"]:
        b1, b2 = _in_format(boxes1, fmt), _in_format(boxes2, fmt)
        mine = bb.compute_iou(b1, b2, fmt, image_shape=(H, W, 3))
        ref = kbb.compute_iou(b1, b2, fmt, image_shape=(H, W, 3))
        assert mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-6)
    assert 0 <= float(np.min(mine)) and float(np.max(mine)) <= 1
    if len(shapes[0]) == len(shapes[1]):
        np.testing.assert_allclose(mine[..., 0, 0], 1.0, rtol=1e-5)  # a box with itself
        boxes1[..., 1, :] = -1.0  # padding
        mine = bb.compute_iou(boxes1, boxes2, "xyxy", use_masking=True, mask_val=-7)
        ref = kbb.compute_iou(boxes1, boxes2, "xyxy", use_masking=True, mask_val=-7)
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-6)
        assert np.all(np.asarray(mine)[..., 1, :] == -7)
    with pytest.raises(ValueError, match="'image_shape'"):
        bb.compute_iou(boxes1, boxes2, "rel_xyxy")
    with pytest.raises(ValueError, match="'boxes1'"):
        bb.compute_iou(boxes1[..., 0, 0], boxes2, "xyxy")


def test_compute_ciou_equals_keras():
    rng = np.random.default_rng(5)
    boxes1, boxes2 = _xyxy(rng, (2, 5)), _xyxy(rng, (2, 5))
    boxes2[0, 0] = boxes1[0, 0]
    for fmt in ["xyxy", "xywh", "center_yxhw"]:
        b1, b2 = _in_format(boxes1, fmt), _in_format(boxes2, fmt)
        mine = bb.compute_ciou(b1, b2, fmt)
        np.testing.assert_allclose(mine, kbb.compute_ciou(b1, b2, fmt), rtol=1e-5, atol=1e-6)
        assert mine.shape == (2, 5)
    np.testing.assert_allclose(mine[0, 0], 1.0, rtol=1e-5)
    assert float(np.max(mine)) <= 1.0 + 1e-6 and float(np.min(mine)) >= -1.0
    with pytest.raises(ValueError, match="relative"):
        bb.compute_ciou(boxes1, boxes2, "rel_xyxy", image_shape=(H, W, 3))


def test_bounding_boxes_is_listed_as_in_keras():
    names = {n for n in dir(kbb) if not n.startswith("_")}
    assert names == set(bb.__all__)
    assert "bounding_boxes" in dir(shoal.utils)
