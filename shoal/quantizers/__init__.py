"""`keras.quantizers`: abs-max int8 / int4 quantization, float8 scaling and quantization configs."""

from shoal.quantizers.float8 import (
    compute_float8_amax_history,
    compute_float8_scale,
    fake_quant_with_min_max_vars,
    quantize_and_dequantize,
)
from shoal.quantizers.int4 import (
    abs_max_quantize_grouped_with_zero_point,
    pack_int4,
    unpack_int4,
)
from shoal.quantizers.quantization_config import (
    Float8QuantizationConfig,
    Int4QuantizationConfig,
    Int8QuantizationConfig,
    QuantizationConfig,
    deserialize,
    get,
    serialize,
)
from shoal.quantizers.quantizers import AbsMaxQuantizer, Quantizer, abs_max_quantize

__all__ = [
    "Float8QuantizationConfig",
    "compute_float8_amax_history",
    "compute_float8_scale",
    "fake_quant_with_min_max_vars",
    "quantize_and_dequantize",
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
