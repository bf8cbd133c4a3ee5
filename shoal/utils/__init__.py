"""Keras-named utilities (`keras.utils`)."""

from shoal.backend import clear_session
from shoal.backend.dtypes import standardize_dtype
from shoal.backend.run_settings import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)
from shoal.backend.symbolic import is_keras_tensor
from shoal.saving.serialization import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)
from shoal.utils import bounding_boxes
from shoal.utils.audio_dataset import audio_dataset_from_directory
from shoal.utils.config import Config
from shoal.utils.feature_space import FeatureSpace
from shoal.utils.file_utils import get_file
from shoal.utils.graph_inputs import get_source_inputs
from shoal.utils.image_dataset import image_dataset_from_directory
from shoal.utils.image_files import array_to_img, img_to_array, load_img, save_img
from shoal.utils.model_visualization import model_to_dot, plot_model
from shoal.utils.numerical import normalize, to_categorical
from shoal.utils.packing import pack_x_y_sample_weight, unpack_x_y_sample_weight
from shoal.utils.progbar import Progbar
from shoal.utils.py_dataset import PyDataset, Sequence
from shoal.utils.seeding import set_random_seed
from shoal.utils.sequences import pad_sequences
from shoal.utils.split_dataset import split_dataset
from shoal.utils.text_dataset import text_dataset_from_directory
from shoal.utils.timeseries import timeseries_dataset_from_array

__all__ = [
    "Config",
    "CustomObjectScope",
    "FeatureSpace",
    "Progbar",
    "PyDataset",
    "Sequence",
    "array_to_img",
    "audio_dataset_from_directory",
    "bounding_boxes",
    "clear_session",
    "custom_object_scope",
    "deserialize_keras_object",
    "disable_interactive_logging",
    "enable_interactive_logging",
    "get_custom_objects",
    "get_file",
    "get_registered_name",
    "get_registered_object",
    "get_source_inputs",
    "image_dataset_from_directory",
    "img_to_array",
    "is_interactive_logging_enabled",
    "is_keras_tensor",
    "load_img",
    "model_to_dot",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "plot_model",
    "register_keras_serializable",
    "save_img",
    "serialize_keras_object",
    "set_random_seed",
    "split_dataset",
    "standardize_dtype",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unpack_x_y_sample_weight",
]


def __getattr__(name):
    # `legacy` is imported on first use (Keras 2 names, kept out of every import of
    # shoal.utils).
    if name == "legacy":
        import importlib

        return importlib.import_module("shoal.utils.legacy")
    raise AttributeError(f"module 'shoal.utils' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "legacy"])
