"""Drawing boxes and segmentation masks onto batches of images, in NumPy.

Keras draws boxes with OpenCV; here a box's outline is the set of pixels OpenCV's
`cv2.rectangle` paints for integer corners (a band of half-width `(t + 1) // 2` around each
edge, rounded at the corners by disks of that radius; one-pixel lines for `t <= 1`; a
filled box for `t < 0`), so box pixels equal Keras'. Labels are written with Pillow's
default font (OpenCV's Hershey font is not reproduced).
"""

from __future__ import annotations

import numpy as np

from shoal.backend.config import standardize_data_format
from shoal.utils.bounding_boxes import convert_format

__all__ = ["draw_bounding_boxes", "draw_segmentation_masks"]


def _images_shape(fn, images):
    shape = tuple(np.shape(images))
    if len(shape) != 4:
        raise ValueError(f"{fn}: argument 'images' must be a batched 4D array; got shape {shape}")
    return shape


def _box_outline(height, width, x1, y1, x2, y2, thickness):
    """Boolean (height, width) mask of the pixels `cv2.rectangle` paints."""
    xa, xb = min(x1, x2), max(x1, x2)
    ya, yb = min(y1, y2), max(y1, y2)
    yy, xx = np.ogrid[:height, :width]
    in_x = (xx >= xa) & (xx <= xb)
    in_y = (yy >= ya) & (yy <= yb)
    if thickness < 0:
        return in_x & in_y
    r = 0 if thickness <= 1 else (thickness + 1) // 2
    mask = (in_x & ((np.abs(yy - ya) <= r) | (np.abs(yy - yb) <= r))) | (
        in_y & ((np.abs(xx - xa) <= r) | (np.abs(xx - xb) <= r))
    )
    for x in (xa, xb):
        for y in (ya, yb):
            mask |= (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    return mask


def _find_text_location(x, y, font_scale, thickness):
    # Keras' placement: above the box when there is room, else inside its top-left corner
    font_height = int(font_scale * 12)
    if y - 8 - 2 * font_height > 0:
        return x, y - 8
    return x + 3, y + 2 * font_height + thickness + 3


def _text_drawer(font_scale):
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as e:
        raise ImportError(
            "draw_bounding_boxes: writing labels (argument 'class_mapping') needs Pillow; "
            "install it with `pip install 'shoal[images]'`"
        ) from e
    size = max(1, int(round(22 * font_scale)))  # about the height of OpenCV's Hershey font
    try:
        font = ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # old Pillow, or no FreeType
        font = ImageFont.load_default()

    def write(image, text, origin, color, thickness):
        """Writes `text` with its baseline-left at `origin` onto an (H, W, C) uint8 array."""
        squeeze = image.shape[-1] == 1
        pil = Image.fromarray(image[..., 0] if squeeze else image)
        draw = ImageDraw.Draw(pil)
        bottom = draw.textbbox((0, 0), text, font=font)[3]
        fill = int(color[0]) if squeeze else tuple(int(c) for c in color)
        draw.text(
            (origin[0], origin[1] - bottom),
            text,
            fill=fill,
            font=font,
            stroke_width=max(0, int(thickness) - 1),
            stroke_fill=fill,
        )
        out = np.asarray(pil)
        image[...] = out[..., None] if squeeze else out

    return write


def draw_bounding_boxes(
    images,
    bounding_boxes,
    bounding_box_format,
    class_mapping=None,
    color=(128, 128, 128),
    line_thickness=2,
    text_thickness=1,
    font_scale=1.0,
    data_format=None,
):
    """Draws bounding boxes (and optionally class names and confidences) on images.

    Args:
        images: `(batch, height, width, channels)` images (channels first with
            `data_format="channels_first"`). Floats with maximum <= 1 are read as [0, 1],
            other floats are clipped to [0, 255].
        bounding_boxes: a dict with `"boxes"` `(batch, num_boxes, 4)`, `"labels"`
            `(batch, num_boxes)` (boxes labelled -1 are skipped) and optionally
            `"confidences"` `(batch, num_boxes)`.
        bounding_box_format: the format of the boxes (see
            `shoal.utils.bounding_boxes.convert_format`).
        class_mapping: dict from class id to name; boxes of mapped classes get their name
            (and confidence) written next to them. Needs Pillow.
        color: RGB color of the boxes and text. Defaults to `(128, 128, 128)`.
        line_thickness: thickness of the box lines, as OpenCV's. Defaults to 2.
        text_thickness: thickness of the text. Defaults to 1.
        font_scale: text size relative to the default. Defaults to 1.0.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `shoal.config.image_data_format()`.

    Returns:
        A uint8 NumPy array shaped as `images`.

    Example:
        >>> images = np.zeros((1, 32, 32, 3), "uint8")
        >>> boxes = {"boxes": np.array([[[4, 4, 20, 20]]]), "labels": np.array([[0]])}
        >>> out = draw_bounding_boxes(images, boxes, "xyxy", color=(255, 0, 0))
    """
    shape = _images_shape("draw_bounding_boxes", images)
    if not isinstance(bounding_boxes, dict):
        raise TypeError(
            "draw_bounding_boxes: argument 'bounding_boxes' must be a dict with 'boxes' and "
            f"'labels'; got {type(bounding_boxes).__name__}"
        )
    missing = [k for k in ("boxes", "labels") if k not in bounding_boxes]
    if missing:
        raise ValueError(
            "draw_bounding_boxes: argument 'bounding_boxes' must have the keys 'boxes' and "
            f"'labels'; missing {missing}"
        )
    channels_first = standardize_data_format(data_format) == "channels_first"
    height, width = shape[2:4] if channels_first else shape[1:3]
    class_mapping = class_mapping or {}
    text_thickness = text_thickness or line_thickness
    boxes = np.asarray(
        convert_format(bounding_boxes["boxes"], bounding_box_format, "xyxy", height, width)
    )
    labels = np.asarray(bounding_boxes["labels"])
    confidences = bounding_boxes.get("confidences")
    confidences = None if confidences is None else np.asarray(confidences)

    images = np.asarray(images)
    if images.dtype.kind == "f" and images.size > 0:
        images = np.clip(images, 0, 1) * 255 if images.max() <= 1.0 else np.clip(images, 0, 255)
    images = images.astype("uint8")  # always a copy: the caller's images stay as they are
    if channels_first:
        images = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)))
    channels = images.shape[-1]
    paint = np.zeros(channels, "float64")
    given = np.asarray(color, "float64").reshape(-1)[:channels]
    paint[: given.size] = given
    paint = np.clip(np.round(paint), 0, 255).astype("uint8")  # as OpenCV's saturate_cast
    write = None

    for i, image in enumerate(images):
        for j in range(boxes.shape[1]):
            x1, y1, x2, y2 = (int(v) for v in boxes[i, j].astype("int32"))
            c = int(labels[i, j].astype("int32"))
            if c == -1:
                continue
            image[_box_outline(height, width, x1, y1, x2, y2, int(line_thickness))] = paint
            if c in class_mapping:
                text = str(class_mapping[c])
                if confidences is not None:
                    text = f"{text} | {confidences[i][j]:.2f}"
                write = write or _text_drawer(font_scale)
                origin = _find_text_location(x1, y1, font_scale, text_thickness)
                write(image, text, origin, paint, text_thickness)
    if channels_first:
        images = np.transpose(images, (0, 3, 1, 2))
    return images


def _generate_color_palette(num_classes):
    palette = np.array([2**25 - 1, 2**15 - 1, 2**21 - 1])
    return [((i * palette) % 255).tolist() for i in range(num_classes)]


def draw_segmentation_masks(
    images,
    segmentation_masks,
    num_classes=None,
    color_mapping=None,
    alpha=0.8,
    blend=True,
    ignore_index=-1,
    data_format=None,
):
    """Overlays class colors from segmentation masks on images.

    Pixels of class `k` for `k` in `range(num_classes)` take color `k` (as in Keras, a mask
    value equal to or above `num_classes` is not colored; so when `num_classes` is inferred
    as the largest value, that class stays uncolored).

    Args:
        images: `(batch, height, width, channels)` images (channels first with
            `data_format="channels_first"`).
        segmentation_masks: integer masks `(batch, height, width, 1)` or
            `(batch, height, width)` (`(batch, 1, height, width)` channels first).
        num_classes: number of classes; defaults to the largest mask value.
        color_mapping: dict from class index (0 to `num_classes - 1`) to RGB color;
            defaults to a fixed palette.
        alpha: opacity of the colors when blending. Defaults to 0.8.
        blend: blend the colors with the images (uint8 result) rather than paint them over
            (float32 result). Defaults to True.
        ignore_index: mask value left unblended. Defaults to -1.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `shoal.config.image_data_format()`.

    Returns:
        A NumPy array shaped as `images`: uint8 when blending, else float32.
    """
    _images_shape("draw_segmentation_masks", images)
    channels_first = standardize_data_format(data_format) == "channels_first"
    images = np.asarray(images)
    masks = np.asarray(segmentation_masks)
    if channels_first:
        images = np.transpose(images, (0, 2, 3, 1))
        if masks.ndim == 4:
            masks = np.transpose(masks, (0, 2, 3, 1))
    images = images.astype("float32")
    if masks.dtype.kind not in "iu":
        raise TypeError(
            "draw_segmentation_masks: argument 'segmentation_masks' must have an integer "
            f"dtype; got {masks.dtype}"
        )
    if masks.ndim == 4:
        masks = masks[..., 0]
    if num_classes is None:
        num_classes = int(masks.max())
    if color_mapping is None:
        colors = _generate_color_palette(num_classes)
    else:
        colors = [color_mapping[i] for i in range(num_classes)]

    painted = images.copy()
    for k, color in enumerate(colors):
        painted[masks == k] = np.asarray(color, "float32")
    outputs = painted
    if blend:
        outputs = images * (1 - alpha) + painted * alpha
        outputs = np.where((masks != ignore_index)[..., None], outputs, images)
        outputs = outputs.astype("uint8")
    if channels_first:
        outputs = np.transpose(outputs, (0, 3, 1, 2))
    return outputs
