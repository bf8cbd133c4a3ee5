"""`keras.quantizers`: abs-max int8 / int4 quantization and quantization configs."""

from shoal.quantizers.int4 import (
    abs_max_quantize_grouped_with_zero_point,
    pack_int4,
    unpack_int4,
)
from shoal.quantizers.quantization_config import (
    Int4QuantizationConfig,
    Int8QuantizationConfig,
    QuantizationConfig,
    deserialize,
    get,
    serialize,
)
from shoal.quantizers.quantizers import AbsMaxQuantizer, Quantizer, abs_max_quantize

__all__ = [
    "AbsMaxQuantizer",
    "Int4QuantizationConfig",
    "Int8QuantizationConfig",
    "QuantizationConfig",
    "Quantizer",
    "abs_max_quantize",
    "abs_max_quantize_grouped_with_zero_point",
    "deserialize",
    "get",
    "pack_int4",
    "serialize",
    "unpack_int4",
]
