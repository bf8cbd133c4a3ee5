"""Drawing and plotting helpers for images, boxes and masks (`keras.visualization`)."""

from shoal.visualization.draw import draw_bounding_boxes, draw_segmentation_masks
from shoal.visualization.gallery import (
    plot_bounding_box_gallery,
    plot_image_gallery,
    plot_segmentation_mask_gallery,
)

__all__ = [
    "draw_bounding_boxes",
    "draw_segmentation_masks",
    "plot_bounding_box_gallery",
    "plot_image_gallery",
    "plot_segmentation_mask_gallery",
]
