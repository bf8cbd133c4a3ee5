"""Image galleries with matplotlib: plain, with bounding boxes, with segmentation masks.

matplotlib is imported on first use (`pip install 'shoal[plot]'`).
"""

from __future__ import annotations

import math

import numpy as np

from shoal.backend.config import standardize_data_format
from shoal.visualization.draw import draw_bounding_boxes, draw_segmentation_masks

__all__ = ["plot_bounding_box_gallery", "plot_image_gallery", "plot_segmentation_mask_gallery"]


def _matplotlib(fn):
    try:
        import matplotlib.patches
        import matplotlib.pyplot
    except ImportError as e:
        raise ImportError(
            f"shoal.visualization.{fn} needs matplotlib; install it with "
            "`pip install 'shoal[plot]'` (or `pip install matplotlib`)"
        ) from e
    return matplotlib.pyplot, matplotlib.patches


def _batched(fn, images):
    shape = tuple(np.shape(images))
    if len(shape) != 4:
        raise ValueError(f"{fn}: argument 'images' must be a batched 4D array; got shape {shape}")
    return shape


def plot_image_gallery(
    images,
    y_true=None,
    y_pred=None,
    label_map=None,
    rows=None,
    cols=None,
    value_range=(0, 255),
    scale=2,
    path=None,
    show=None,
    transparent=True,
    dpi=60,
    legend_handles=None,
    data_format=None,
):
    """Shows (or saves) a grid of images, optionally titled with true and predicted labels.

    Args:
        images: `(batch, height, width, channels)` images.
        y_true: optional class indices, titled through `label_map`.
        y_pred: optional predicted class indices, titled through `label_map`.
        label_map: dict from class index to name; needed with `y_true` / `y_pred`.
        rows: grid rows; defaults to `ceil(sqrt(batch))`.
        cols: grid columns; defaults to `batch // rows`.
        value_range: the value range of `images`, mapped to [0, 255]. Defaults to (0, 255).
        scale: inches per grid cell. Defaults to 2.
        path: save the figure here (and close it) instead of showing it.
        show: call `plt.show()`; defaults to True when `path` is None.
        transparent: save with a transparent background. Defaults to True.
        dpi: resolution of the saved file. Defaults to 60.
        legend_handles: matplotlib artists for a figure legend.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `shoal.config.image_data_format()`.

    With `path=None, show=False` the figure stays open as `plt.gcf()`.
    """
    plt, _ = _matplotlib("plot_image_gallery")
    if path is not None and show:
        raise ValueError(
            "plot_image_gallery: pass either argument 'path' (save the figure) or "
            f"'show=True', not both; got path={path!r}, show={show!r}"
        )
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError(
            "plot_image_gallery: argument 'label_map' is needed with 'y_true' or 'y_pred'"
        )
    shape = _batched("plot_image_gallery", images)
    show = show if show is not None else path is None
    batch_size = shape[0]
    rows = rows or int(math.ceil(math.sqrt(batch_size)))
    cols = cols or int(math.ceil(batch_size // rows))
    images = np.asarray(images)[: min(rows * cols, batch_size)]
    if standardize_data_format(data_format) == "channels_first":
        images = np.transpose(images, (0, 2, 3, 1))
    lo, hi = value_range
    if (lo, hi) != (0, 255):
        lo, hi = np.float32(lo), np.float32(hi)
        images = (images.astype("float32") - lo) / (hi - lo) * np.float32(255)

    fig, axes = plt.subplots(
        nrows=rows,
        ncols=cols,
        figsize=(cols * scale, rows * scale),
        frameon=False,
        layout="tight",
        squeeze=False,
        sharex="row",
        sharey="col",
    )
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")
    y_true = None if y_true is None else np.asarray(y_true)
    y_pred = None if y_pred is None else np.asarray(y_pred)
    for index, axis in enumerate(axes.reshape(-1)):
        axis.margins(x=0, y=0)
        axis.axis("off")
        if index >= len(images):  # a grid larger than the batch: leave the cell empty
            continue
        axis.imshow(images[index].astype("uint8"))
        title = []
        if y_true is not None and index < len(y_true):
            title.append(f"Label: {label_map.get(y_true[index], 'Unknown')}")
        if y_pred is not None and index < len(y_pred):
            title.append(f"Pred: {label_map.get(y_pred[index], 'Unknown')}")
        if title:
            axis.set_title("  ".join(title), fontsize=8)

    if path is not None:
        fig.savefig(path, pad_inches=0, bbox_inches="tight", transparent=transparent, dpi=dpi)
        plt.close(fig)
    elif show:
        plt.show()
        plt.close(fig)


def plot_bounding_box_gallery(
    images,
    bounding_box_format,
    y_true=None,
    y_pred=None,
    value_range=(0, 255),
    true_color=(0, 188, 212),
    pred_color=(255, 235, 59),
    line_thickness=2,
    font_scale=1.0,
    text_thickness=None,
    class_mapping=None,
    ground_truth_mapping=None,
    prediction_mapping=None,
    legend=False,
    legend_handles=None,
    rows=None,
    cols=None,
    data_format=None,
    **kwargs,
):
    """A `plot_image_gallery` of images with true and/or predicted boxes drawn on them.

    Args:
        images: `(batch, height, width, channels)` images.
        bounding_box_format: the format of the boxes.
        y_true: optional dict of true `"boxes"` and `"labels"` (see `draw_bounding_boxes`).
        y_pred: optional dict of predicted boxes, labels and optionally `"confidences"`.
        value_range: the value range of `images`. Defaults to (0, 255).
        true_color: RGB color of true boxes. Defaults to (0, 188, 212).
        pred_color: RGB color of predicted boxes. Defaults to (255, 235, 59).
        line_thickness: box line thickness. Defaults to 2.
        font_scale: label text size. Defaults to 1.0.
        text_thickness: label text thickness; defaults to `line_thickness`.
        class_mapping: dict from class id to name, for both kinds of boxes.
        ground_truth_mapping: overrides `class_mapping` for `y_true`.
        prediction_mapping: overrides `class_mapping` for `y_pred`.
        legend: add a "Ground Truth" / "Prediction" legend.
        legend_handles: custom legend artists (not together with `legend=True`).
        rows: grid rows.
        cols: grid columns.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: passed to `plot_image_gallery` (`path`, `show`, `scale`, ...).
    """
    _, patches = _matplotlib("plot_bounding_box_gallery")
    _batched("plot_bounding_box_gallery", images)
    prediction_mapping = prediction_mapping or class_mapping
    ground_truth_mapping = ground_truth_mapping or class_mapping
    images = np.asarray(images)
    if standardize_data_format(data_format) == "channels_first":
        images = np.transpose(images, (0, 2, 3, 1))
    common = dict(
        bounding_box_format=bounding_box_format,
        line_thickness=line_thickness,
        text_thickness=text_thickness,
        font_scale=font_scale,
        data_format="channels_last",
    )
    if y_true is not None:
        images = draw_bounding_boxes(
            images, y_true, color=true_color, class_mapping=ground_truth_mapping, **common
        )
    if y_pred is not None:
        images = draw_bounding_boxes(
            images, y_pred, color=pred_color, class_mapping=prediction_mapping, **common
        )
    if legend:
        if legend_handles:
            raise ValueError(
                "plot_bounding_box_gallery: pass either 'legend=True' or 'legend_handles', not both"
            )
        legend_handles = [
            patches.Patch(color=np.array(true_color) / 255.0, label="Ground Truth"),
            patches.Patch(color=np.array(pred_color) / 255.0, label="Prediction"),
        ]
    return plot_image_gallery(
        images,
        value_range=value_range,
        legend_handles=legend_handles,
        rows=rows,
        cols=cols,
        data_format="channels_last",
        **kwargs,
    )


def plot_segmentation_mask_gallery(
    images,
    num_classes,
    value_range=(0, 255),
    y_true=None,
    y_pred=None,
    color_mapping=None,
    blend=True,
    alpha=0.8,
    ignore_index=-1,
    data_format=None,
    **kwargs,
):
    """A `plot_image_gallery` with one row per image: the image, then its true and/or
    predicted masks drawn over it.

    Args:
        images: `(batch, height, width, channels)` images.
        num_classes: number of classes.
        value_range: the value range of `images`. Defaults to (0, 255).
        y_true: optional true masks `(batch, height, width, 1)` or `(batch, height, width)`.
        y_pred: optional predicted masks, shaped as `y_true`.
        color_mapping: dict from class index to RGB color.
        blend: blend the mask colors with the images. Defaults to True.
        alpha: mask opacity. Defaults to 0.8.
        ignore_index: mask value left undrawn. Defaults to -1.
        data_format: `"channels_last"` or `"channels_first"`.
        **kwargs: passed to `plot_image_gallery`.
    """
    shape = _batched("plot_segmentation_mask_gallery", images)
    channels_first = standardize_data_format(data_format) == "channels_first"
    images = np.asarray(images)
    if channels_first:
        images = np.transpose(images, (0, 2, 3, 1))

    def draw(masks):
        masks = np.asarray(masks)
        if channels_first and masks.ndim == 4:
            masks = np.transpose(masks, (0, 2, 3, 1))
        return draw_segmentation_masks(
            images,
            masks.astype("int32"),
            num_classes=num_classes,
            color_mapping=color_mapping,
            alpha=alpha,
            blend=blend,
            ignore_index=ignore_index,
            data_format="channels_last",
        )

    drawn = [draw(m) for m in (y_true, y_pred) if m is not None]
    gallery = [img for i in range(shape[0]) for img in (images[i], *(d[i] for d in drawn))]
    return plot_image_gallery(
        np.stack(gallery, axis=0),
        value_range=value_range,
        rows=shape[0],
        cols=1 + len(drawn),
        data_format="channels_last",
        **kwargs,
    )
