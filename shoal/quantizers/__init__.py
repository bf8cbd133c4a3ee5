"""`keras.quantizers`: abs-max int8 quantization and quantization configs."""

from shoal.quantizers.quantization_config import (
    Int8QuantizationConfig,
    QuantizationConfig,
    deserialize,
    get,
    serialize,
)
from shoal.quantizers.quantizers import AbsMaxQuantizer, Quantizer, abs_max_quantize

__all__ = [
    "AbsMaxQuantizer",
    "Int8QuantizationConfig",
    "QuantizationConfig",
    "Quantizer",
    "abs_max_quantize",
    "deserialize",
    "get",
    "serialize",
]
