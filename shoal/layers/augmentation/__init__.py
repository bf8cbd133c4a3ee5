"""Image augmentation layers (Keras 3's random image preprocessing layers)."""

from shoal.layers.augmentation.color import RandomBrightness as RandomBrightness
from shoal.layers.augmentation.color import RandomContrast as RandomContrast
from shoal.layers.augmentation.crop import RandomCrop as RandomCrop
from shoal.layers.augmentation.flip import RandomFlip as RandomFlip
from shoal.layers.augmentation.geometric import RandomRotation as RandomRotation
from shoal.layers.augmentation.geometric import RandomTranslation as RandomTranslation
from shoal.layers.augmentation.geometric import RandomZoom as RandomZoom

__all__ = [
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
]
