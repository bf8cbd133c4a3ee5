"""Image augmentation layers (Keras 3's random image preprocessing layers)."""

from shoal.layers.augmentation.blur import RandomGaussianBlur as RandomGaussianBlur
from shoal.layers.augmentation.bounding_boxes import MaxNumBoundingBoxes as MaxNumBoundingBoxes
from shoal.layers.augmentation.clahe import (
    ContrastLimitedAdaptiveHistogramEqualization as ContrastLimitedAdaptiveHistogramEqualization,
)
from shoal.layers.augmentation.color import RandomBrightness as RandomBrightness
from shoal.layers.augmentation.color import RandomContrast as RandomContrast
from shoal.layers.augmentation.color_more import RandomColorDegeneration as RandomColorDegeneration
from shoal.layers.augmentation.color_more import RandomColorJitter as RandomColorJitter
from shoal.layers.augmentation.color_more import RandomGrayscale as RandomGrayscale
from shoal.layers.augmentation.color_more import RandomHue as RandomHue
from shoal.layers.augmentation.color_more import RandomInvert as RandomInvert
from shoal.layers.augmentation.color_more import RandomSaturation as RandomSaturation
from shoal.layers.augmentation.color_more import RandomSharpness as RandomSharpness
from shoal.layers.augmentation.crop import RandomCrop as RandomCrop
from shoal.layers.augmentation.erasing import RandomErasing as RandomErasing
from shoal.layers.augmentation.flip import RandomFlip as RandomFlip
from shoal.layers.augmentation.geometric import RandomRotation as RandomRotation
from shoal.layers.augmentation.geometric import RandomTranslation as RandomTranslation
from shoal.layers.augmentation.geometric import RandomZoom as RandomZoom
from shoal.layers.augmentation.geometric_more import (
    RandomElasticTransform as RandomElasticTransform,
)
from shoal.layers.augmentation.geometric_more import RandomPerspective as RandomPerspective
from shoal.layers.augmentation.geometric_more import RandomShear as RandomShear
from shoal.layers.augmentation.mixing import CutMix as CutMix
from shoal.layers.augmentation.mixing import MixUp as MixUp
from shoal.layers.augmentation.policies import AugMix as AugMix
from shoal.layers.augmentation.policies import RandAugment as RandAugment
from shoal.layers.augmentation.tone import AutoContrast as AutoContrast
from shoal.layers.augmentation.tone import Equalization as Equalization
from shoal.layers.augmentation.tone import RandomPosterization as RandomPosterization
from shoal.layers.augmentation.tone import Solarization as Solarization

__all__ = [
    "AugMix",
    "AutoContrast",
    "CutMix",
    "ContrastLimitedAdaptiveHistogramEqualization",
    "Equalization",
    "MaxNumBoundingBoxes",
    "MixUp",
    "RandAugment",
    "RandomBrightness",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomContrast",
    "RandomCrop",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomFlip",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomRotation",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "RandomTranslation",
    "RandomZoom",
    "Solarization",
]
