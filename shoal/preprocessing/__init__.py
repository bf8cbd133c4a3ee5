"""`keras.preprocessing`: Keras 3's older home of the dataset and image utilities."""

from shoal.preprocessing import image as image
from shoal.preprocessing import sequence as sequence
from shoal.utils.image_dataset import image_dataset_from_directory
from shoal.utils.text_dataset import text_dataset_from_directory
from shoal.utils.timeseries import timeseries_dataset_from_array

__all__ = [
    "image",
    "image_dataset_from_directory",
    "sequence",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
]
