"""Bounding-box utilities (`keras.utils.bounding_boxes`): format conversion, clipping,
crop/pad/affine geometry, IoU and CIoU, anchor delta encoding.

Formats (case-insensitive), the last axis of `boxes` holding the four numbers:
`xyxy` (left, top, right, bottom), `yxyx`, `xywh` (left, top, width, height),
`center_xywh`, `center_yxhw`, and the relative `rel_xyxy`, `rel_yxyx`, `rel_xywh`,
`rel_center_xywh` whose coordinates are fractions of the image `width` / `height`.

Every function accepts unbatched `(N, 4)` and batched `(batch, N, 4)` boxes and returns JAX
arrays. Arithmetic follows Keras 3 operation for operation so results match it bit for bit
in float32; every conversion goes through `xyxy`.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from shoal.backend.config import epsilon

SUPPORTED_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)

__all__ = [
    "affine_transform",
    "clip_to_image_size",
    "compute_ciou",
    "compute_iou",
    "convert_format",
    "crop",
    "decode_deltas_to_boxes",
    "encode_box_to_deltas",
    "pad",
]


def _split4(boxes):
    return tuple(boxes[..., i : i + 1] for i in range(4))


def _cat(*parts):
    return jnp.concatenate(parts, axis=-1)


# -- to xyxy ---------------------------------------------------------------------------


def _to_xyxy(boxes, fmt, height, width):
    a, b, c, d = _split4(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return _cat(b, a, d, c)
    if fmt == "xywh":
        return _cat(a, b, a + c, b + d)
    if fmt in ("center_xywh", "center_yxhw"):
        cx, cy, w, h = (a, b, c, d) if fmt == "center_xywh" else (b, a, d, c)
        half_w, half_h = w / 2.0, h / 2.0
        return _cat(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    if fmt == "rel_xyxy":
        return _cat(a * width, b * height, c * width, d * height)
    if fmt == "rel_yxyx":
        return _cat(b * width, a * height, d * width, c * height)
    if fmt == "rel_xywh":
        return _cat(a * width, b * height, (a + c) * width, (b + d) * height)
    # rel_center_xywh
    half_w, half_h = c / 2.0, d / 2.0
    return _cat(
        (a - half_w) * width, (b - half_h) * height, (a + half_w) * width, (b + half_h) * height
    )


def _from_xyxy(boxes, fmt, height, width):
    x1, y1, x2, y2 = _split4(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return _cat(y1, x1, y2, x2)
    if fmt == "xywh":
        return _cat(x1, y1, x2 - x1, y2 - y1)
    if fmt in ("center_xywh", "center_yxhw"):
        cx = x1 + ((x2 - x1) / 2.0)
        cy = y1 + ((y2 - y1) / 2.0)
        w, h = x2 - x1, y2 - y1
        return _cat(cx, cy, w, h) if fmt == "center_xywh" else _cat(cy, cx, h, w)
    if fmt in ("rel_xyxy", "rel_yxyx"):
        rx1, ry1 = jnp.divide(x1, width), jnp.divide(y1, height)
        rx2, ry2 = jnp.divide(x2, width), jnp.divide(y2, height)
        return _cat(rx1, ry1, rx2, ry2) if fmt == "rel_xyxy" else _cat(ry1, rx1, ry2, rx2)
    rel_w, rel_h = (x2 - x1) / width, (y2 - y1) / height
    if fmt == "rel_xywh":
        return _cat(x1 / width, y1 / height, rel_w, rel_h)
    # rel_center_xywh
    return _cat((x1 + ((x2 - x1) / 2.0)) / width, (y1 + ((y2 - y1) / 2.0)) / height, rel_w, rel_h)


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Converts bounding boxes between formats.

    Args:
        boxes: boxes `(..., 4)`, or a dict whose `"boxes"` entry is converted (the other
            entries, e.g. `"labels"`, are passed through).
        source: the format of `boxes` (see the module docstring).
        target: the format to return.
        height: image height; needed when `source` or `target` is relative.
        width: image width; needed when `source` or `target` is relative.
        dtype: the dtype to compute and return in. Defaults to `"float32"`.

    Returns:
        The converted boxes (a dict when `boxes` is a dict).

    Example:
        >>> convert_format(np.array([[10, 20, 30, 40]]), source="xyxy", target="xywh")
        Array([[10., 20., 20., 20.]], dtype=float32)
    """
    if isinstance(boxes, dict):
        # Keras writes the result into the given dict; a new dict leaves the caller's intact.
        converted = convert_format(boxes["boxes"], source, target, height, width, dtype)
        return {**boxes, "boxes": converted}
    boxes = jnp.asarray(boxes)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(
            "convert_format: argument 'boxes' must have a last dimension of 4; "
            f"got boxes.shape={tuple(boxes.shape)}"
        )
    source, target = str(source).lower(), str(target).lower()
    for arg, fmt in (("source", source), ("target", target)):
        if fmt not in SUPPORTED_FORMATS:
            raise ValueError(
                f"convert_format: argument '{arg}' must be one of {SUPPORTED_FORMATS}; got {fmt!r}"
            )
    if (source.startswith("rel_") or target.startswith("rel_")) and (
        width is None or height is None
    ):
        raise ValueError(
            "convert_format: arguments 'height' and 'width' are needed to convert between "
            f"relative and absolute formats; got source={source!r}, target={target!r}, "
            f"height={height}, width={width}"
        )
    boxes = boxes.astype(dtype)
    if source == target:
        return boxes
    if width is not None:
        width = jnp.asarray(width).astype(dtype)
    if height is not None:
        height = jnp.asarray(height).astype(dtype)
    if source.startswith("rel_") and target.startswith("rel_"):
        # relative to relative needs no image size: convert as if absolute
        source, target = source[4:], target[4:]
    return _from_xyxy(_to_xyxy(boxes, source, height, width), target, height, width)


def _area_xyxy(boxes):
    x1, y1, x2, y2 = _split4(boxes)
    return (x2 - x1) * (y2 - y1)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clips boxes to the image and marks the labels of boxes left without area as -1.

    Args:
        bounding_boxes: a dict with `"boxes"` `(N, 4)` or `(batch, N, 4)` and optionally
            `"labels"` `(N,)` or `(batch, N)`.
        height: image height (needed for `"xyxy"`).
        width: image width (needed for `"xyxy"`).
        bounding_box_format: `"xyxy"` (clipped to `[0, width] x [0, height]`) or `"rel_xyxy"`
            (clipped to `[0, 1]`).

    Returns:
        A new dict with the clipped `"boxes"` and, where given, the updated `"labels"`.
    """
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError(
            "clip_to_image_size: argument 'bounding_box_format' must be 'xyxy' or 'rel_xyxy' "
            f"(as in Keras); got {bounding_box_format!r}"
        )
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError(
            "clip_to_image_size: arguments 'height' and 'width' are needed for "
            f"bounding_box_format='xyxy'; got height={height}, width={width}"
        )
    boxes = jnp.asarray(bounding_boxes["boxes"])
    labels = bounding_boxes.get("labels", None)
    if bounding_box_format == "xyxy":
        hi_x = jnp.asarray(width).astype(boxes.dtype)
        hi_y = jnp.asarray(height).astype(boxes.dtype)
        lo = 0
    else:
        hi_x = hi_y = 1.0
        lo = 0.0
    x1, y1, x2, y2 = _split4(boxes)
    boxes = _cat(
        jnp.clip(x1, lo, hi_x),
        jnp.clip(y1, lo, hi_y),
        jnp.clip(x2, lo, hi_x),
        jnp.clip(y2, lo, hi_y),
    )
    result = dict(bounding_boxes)
    result["boxes"] = boxes
    if labels is not None:
        areas = jnp.squeeze(_area_xyxy(boxes), axis=-1)
        result["labels"] = jnp.where(areas > 0, jnp.asarray(labels), -1)
    return result


def _inverse_affine_matrix(
    center_x, center_y, angle, translate_x, translate_y, scale, shear_x, shear_y, height, width
):
    """(batch, 3, 3) matrices mapping output pixels to input pixels (TF's
    `_get_inverse_affine_matrix`, as Keras); angles in degrees, shifts as fractions."""
    batch = angle.shape[0]
    dtype = angle.dtype
    angle, shear_x, shear_y = -angle, -shear_x, -shear_y
    cx = jnp.multiply(center_x, (width - 1))
    cy = jnp.multiply(center_y, (height - 1))
    rot = jnp.multiply(angle, 1.0 / 180.0 * math.pi)
    tx = jnp.multiply(-translate_x, (width - 1))
    ty = jnp.multiply(-translate_y, (height - 1))
    sx = jnp.multiply(shear_x, 1.0 / 180.0 * math.pi)
    sy = jnp.multiply(shear_y, 1.0 / 180.0 * math.pi)

    cos_sy, tan_sx = jnp.cos(sy), jnp.tan(sx)
    rot_minus_sy = rot - sy
    cx_plus_tx, cy_plus_ty = cx + tx, cy + ty
    # rotation-scale-shear without the scale; its determinant is 1
    a = jnp.cos(rot_minus_sy) / cos_sy
    b = a * tan_sx + jnp.sin(rot)
    c = -jnp.sin(rot_minus_sy) / cos_sy
    d = jnp.cos(rot) - c * tan_sx
    a0, a1 = jnp.multiply(d, scale), jnp.multiply(-b, scale)
    b0, b1 = jnp.multiply(-c, scale), jnp.multiply(a, scale)
    a2 = cx - a0 * cx_plus_tx - a1 * cy_plus_ty
    b2 = cy - b0 * cx_plus_tx - b1 * cy_plus_ty
    zeros, ones = jnp.zeros([batch], dtype), jnp.ones([batch], dtype)
    matrix = jnp.stack([a0, a1, a2, b0, b1, b2, zeros, zeros, ones], axis=-1)
    return jnp.reshape(matrix, [batch, 3, 3])


def affine_transform(
    boxes,
    angle,
    translate_x,
    translate_y,
    scale,
    shear_x,
    shear_y,
    height,
    width,
    center_x=None,
    center_y=None,
    bounding_box_format="xyxy",
):
    """Applies an affine transformation (as `RandomAffine`-style layers do) to boxes.

    Each box's four corners are transformed and the result is their enclosing box.

    Args:
        boxes: `(batch, N, 4)` boxes (or `(N, 4)`, treated as a batch of one).
        angle: rotation in degrees, `(batch,)` (a scalar is used for every image).
        translate_x: horizontal shift, a fraction of `width`, `(batch,)` or scalar.
        translate_y: vertical shift, a fraction of `height`, `(batch,)` or scalar.
        scale: scale factor, `(batch,)` or scalar.
        shear_x: shear along x in degrees, `(batch,)` or scalar.
        shear_y: shear along y in degrees, `(batch,)` or scalar.
        height: image height.
        width: image width.
        center_x: transformation centre as a fraction of the width. Defaults to 0.5.
        center_y: transformation centre as a fraction of the height. Defaults to 0.5.
        bounding_box_format: only `"xyxy"` (as in Keras).

    Returns:
        The transformed boxes, shaped as `boxes`.
    """
    if bounding_box_format != "xyxy":
        raise NotImplementedError(
            "affine_transform: argument 'bounding_box_format' must be 'xyxy' (as in Keras); "
            f"got {bounding_box_format!r}"
        )
    boxes = jnp.asarray(boxes)
    unbatched = boxes.ndim == 2
    if unbatched:
        boxes = boxes[None]
    batch, n_boxes = boxes.shape[0], boxes.shape[1]
    angle = jnp.asarray(angle)
    if not jnp.issubdtype(angle.dtype, jnp.floating):
        angle = angle.astype("float32")
    angle = jnp.broadcast_to(angle, (batch,))
    params = [
        jnp.broadcast_to(jnp.asarray(p, angle.dtype), (batch,))
        for p in (translate_x, translate_y, scale, shear_x, shear_y)
    ]
    matrix = _inverse_affine_matrix(
        0.5 if center_x is None else center_x,
        0.5 if center_y is None else center_y,
        angle,
        *params,
        height,
        width,
    )
    boxes = boxes.astype(matrix.dtype)
    transposed = jnp.transpose(matrix[:, :2, :], [0, 2, 1])
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    corners = jnp.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=-1)
    corners = jnp.reshape(corners, [batch, n_boxes, 4, 2])
    corners = jnp.concatenate([corners, jnp.ones([batch, n_boxes, 4, 1], corners.dtype)], -1)
    moved = jnp.einsum("bnxy,byz->bnxz", corners, transposed)
    out = jnp.concatenate([jnp.min(moved, axis=2), jnp.max(moved, axis=2)], axis=-1)
    return out[0] if unbatched else out


def _check_xyxy(fn, bounding_box_format):
    if bounding_box_format != "xyxy":
        raise NotImplementedError(
            f"{fn}: argument 'bounding_box_format' must be 'xyxy' (as in Keras); "
            f"got {bounding_box_format!r}"
        )


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Moves boxes into the frame of the crop `[left, left + width) x [top, top + height)`
    and clips them to it.

    Args:
        boxes: `(N, 4)` or `(batch, N, 4)` boxes.
        top: vertical offset of the crop.
        left: horizontal offset of the crop.
        height: crop height (None: no upper clip).
        width: crop width (None: no upper clip).
        bounding_box_format: only `"xyxy"` (as in Keras).

    Example:
        >>> crop(np.array([[10, 20, 50, 60]]), top=10, left=20, height=40, width=30)
        Array([[ 0, 10, 30, 40]], dtype=int32)
    """
    _check_xyxy("crop", bounding_box_format)
    x1, y1, x2, y2 = _split4(jnp.asarray(boxes))
    return _cat(
        jnp.clip(x1 - left, 0, width),
        jnp.clip(y1 - top, 0, height),
        jnp.clip(x2 - left, 0, width),
        jnp.clip(y2 - top, 0, height),
    )


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Shifts boxes by the `top` / `left` padding added to their image.

    Args:
        boxes: `(N, 4)` or `(batch, N, 4)` boxes.
        top: rows added above the image.
        left: columns added left of the image.
        height: unused (Keras' signature).
        width: unused (Keras' signature).
        bounding_box_format: only `"xyxy"` (as in Keras).
    """
    _check_xyxy("pad", bounding_box_format)
    x1, y1, x2, y2 = _split4(jnp.asarray(boxes))
    return _cat(x1 + left, y1 + top, x2 + left, y2 + top)


def _check_variance(variance):
    if variance is None:
        return None
    variance = jnp.asarray(variance, "float32")
    if variance.shape[-1:] != (4,):
        raise ValueError(f"argument 'variance' must have length 4; got {variance}")
    return variance


def _delta_args(fn, argument, fmt, variance, image_shape):
    """(variance, height, width) for the delta encoding functions, `fmt` checked."""
    if fmt not in ("center_xywh", "center_yxhw"):
        raise ValueError(
            f"{fn}: argument '{argument}' must be 'center_xywh' or 'center_yxhw'; got {fmt!r}"
        )
    return (_check_variance(variance), *_image_hw(image_shape))


def _image_hw(image_shape):
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


def encode_box_to_deltas(
    anchors,
    boxes,
    anchor_format,
    box_format,
    encoding_format="center_yxhw",
    variance=None,
    image_shape=None,
):
    """Encodes boxes as offsets from anchors: `((center - anchor_center) / anchor_size,
    log(size / anchor_size))` in `encoding_format`, divided by `variance` if given.

    Args:
        anchors: `(N, 4)` anchors.
        boxes: `(N, 4)` or `(batch, N, 4)` boxes.
        anchor_format: the format of `anchors`.
        box_format: the format of `boxes`.
        encoding_format: `"center_yxhw"` (default) or `"center_xywh"`.
        variance: optional 4 numbers to divide the deltas by.
        image_shape: `(height, width, channels)`, needed for relative formats.
    """
    variance, height, width = _delta_args(
        "encode_box_to_deltas", "encoding_format", encoding_format, variance, image_shape
    )
    anchors = convert_format(anchors, anchor_format, encoding_format, height, width)
    boxes = convert_format(boxes, box_format, encoding_format, height, width)
    anchor_size = jnp.maximum(anchors[..., 2:], epsilon())
    box_size = jnp.maximum(boxes[..., 2:], epsilon())
    deltas = jnp.concatenate(
        [(boxes[..., :2] - anchors[..., :2]) / anchor_size, jnp.log(box_size / anchor_size)],
        axis=-1,
    )
    if variance is not None:
        deltas = deltas / variance
    return deltas


def decode_deltas_to_boxes(
    anchors,
    boxes_delta,
    anchor_format,
    box_format,
    encoded_format="center_yxhw",
    variance=None,
    image_shape=None,
):
    """Inverse of `encode_box_to_deltas`: applies deltas to anchors and returns boxes in
    `box_format`.

    Args:
        anchors: `(N, 4)` anchors, or a dict of them by pyramid level.
        boxes_delta: `(N, 4)` or `(batch, N, 4)` deltas, or a dict with the keys of
            `anchors`.
        anchor_format: the format of `anchors`.
        box_format: the format to return.
        encoded_format: `"center_yxhw"` (default) or `"center_xywh"`.
        variance: optional 4 numbers to multiply the deltas by.
        image_shape: `(height, width, channels)`, needed for relative formats.
    """
    variance, height, width = _delta_args(
        "decode_deltas_to_boxes", "encoded_format", encoded_format, variance, image_shape
    )

    def decode(anchor, delta):
        anchor = convert_format(anchor, anchor_format, encoded_format, height, width)
        delta = jnp.asarray(delta)
        if variance is not None:
            delta = delta * variance
        box = jnp.concatenate(
            [
                delta[..., :2] * anchor[..., 2:] + anchor[..., :2],
                jnp.exp(delta[..., 2:]) * anchor[..., 2:],
            ],
            axis=-1,
        )
        return convert_format(box, encoded_format, box_format, height, width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)


def _check_rank(fn, boxes1, boxes2):
    for name, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
        if boxes.ndim not in (2, 3):
            raise ValueError(
                f"{fn}: argument '{name}' must be (N, 4) or (batch, N, 4); "
                f"got shape {tuple(boxes.shape)}"
            )


def compute_iou(
    boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1, image_shape=None
):
    """Pairwise intersection over union.

    Shapes: `(M, 4), (N, 4) -> (M, N)`; with a batch on either or both,
    `-> (batch, M, N)`.

    Args:
        boxes1: first boxes.
        boxes2: second boxes.
        bounding_box_format: the format of both.
        use_masking: set the IoU of boxes whose four coordinates are all negative
            (padding) to `mask_val`.
        mask_val: the value for masked pairs. Defaults to -1.
        image_shape: `(height, width, channels)`, needed for relative formats.
    """
    boxes1, boxes2 = jnp.asarray(boxes1), jnp.asarray(boxes2)
    _check_rank("compute_iou", boxes1, boxes2)
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError(
            "compute_iou: argument 'image_shape' is needed for a relative "
            f"bounding_box_format; got bounding_box_format={bounding_box_format!r}, "
            f"image_shape={image_shape}"
        )
    height, width = _image_hw(image_shape)
    rank1 = boxes1.ndim
    boxes1 = convert_format(boxes1, bounding_box_format, "yxyx", height, width)
    boxes2 = convert_format(boxes2, bounding_box_format, "yxyx", height, width)

    perm2 = [1, 0] if boxes2.ndim == 2 else [0, 2, 1]
    ymin1, xmin1, ymax1, xmax1 = _split4(boxes1)
    ymin2, xmin2, ymax2, xmax2 = (jnp.transpose(v, perm2) for v in _split4(boxes2))
    inter_h = jnp.maximum(0.0, jnp.minimum(ymax1, ymax2) - jnp.maximum(ymin1, ymin2))
    inter_w = jnp.maximum(0.0, jnp.minimum(xmax1, xmax2) - jnp.maximum(xmin1, xmin2))
    intersection = inter_h * inter_w

    area1 = jnp.squeeze((ymax1 - ymin1) * (xmax1 - xmin1), axis=-1)
    area2 = jnp.squeeze(_area_xyxy(boxes2), axis=-1)  # the same product, yxyx order
    area1 = jnp.expand_dims(area1, -1)
    area2 = jnp.expand_dims(area2, 1 if area2.ndim == 2 else 0)
    union = area1 + area2 - intersection
    iou = jnp.divide(intersection, union + epsilon())
    if not use_masking:
        return iou
    masked1 = jnp.max(boxes1, axis=-1, keepdims=True) < 0.0
    masked2 = jnp.max(boxes2, axis=-1, keepdims=True) < 0.0
    # Keras transposes boxes2's mask by boxes1's rank
    background = jnp.logical_or(
        masked1, jnp.transpose(masked2, [1, 0] if rank1 == 2 else [0, 2, 1])
    )
    return jnp.where(background, jnp.asarray(mask_val, iou.dtype) * jnp.ones_like(iou), iou)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """Complete IoU of matching boxes (shapes `(..., 4)` that broadcast): IoU minus the
    normalised centre distance and an aspect-ratio consistency term.

    Args:
        boxes1: first boxes.
        boxes2: second boxes.
        bounding_box_format: their (absolute) format; relative formats are refused, as in
            Keras.
        image_shape: unused for absolute formats (Keras' signature).

    Returns:
        The CIoU, shaped as the boxes without their last axis.
    """
    if "rel" in bounding_box_format:
        raise ValueError(
            "compute_ciou: relative bounding box formats are not supported (as in Keras); "
            f"got bounding_box_format={bounding_box_format!r}, image_shape={image_shape}"
        )
    height, width = _image_hw(image_shape)
    boxes1 = convert_format(boxes1, bounding_box_format, "xyxy", height, width)
    boxes2 = convert_format(boxes2, bounding_box_format, "xyxy", height, width)
    eps = epsilon()
    xmin1, ymin1, xmax1, ymax1 = _split4(boxes1)
    xmin2, ymin2, xmax2, ymax2 = _split4(boxes2)
    w1, h1 = xmax1 - xmin1, ymax1 - ymin1 + eps
    w2, h2 = xmax2 - xmin2, ymax2 - ymin2 + eps
    intersection = jnp.maximum(
        jnp.minimum(xmax1, xmax2) - jnp.maximum(xmin1, xmin2), 0
    ) * jnp.maximum(jnp.minimum(ymax1, ymax2) - jnp.maximum(ymin1, ymin2), 0)
    union = w1 * h1 + w2 * h2 - intersection + eps
    iou = jnp.squeeze(jnp.divide(intersection, union + eps), axis=-1)
    convex_w = jnp.maximum(xmax1, xmax2) - jnp.minimum(xmin1, xmin2)
    convex_h = jnp.maximum(ymax1, ymax2) - jnp.minimum(ymin1, ymin2)
    diagonal_sq = jnp.squeeze(convex_w**2 + convex_h**2 + eps, axis=-1)
    centers_sq = jnp.squeeze(
        ((xmin1 + xmax1) / 2 - (xmin2 + xmax2) / 2) ** 2
        + ((ymin1 + ymax1) / 2 - (ymin2 + ymax2) / 2) ** 2,
        axis=-1,
    )
    v = jnp.squeeze(
        (4 / math.pi**2) * jnp.power(jnp.arctan(w2 / h2) - jnp.arctan(w1 / h1), 2), axis=-1
    )
    alpha = v / (v - iou + (1 + eps))
    return iou - (centers_sq / diagonal_sq + v * alpha)
