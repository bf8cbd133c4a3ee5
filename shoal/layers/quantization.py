"""int8 post-training quantization (Keras' `layer.quantize("int8")`) for Dense and EinsumDense.

`quantize("int8")` replaces the float kernel with an int8 `kernel` and a float
`kernel_scale` (abs-max over the contracted axes: `kernel ≈ int8 / kernel_scale`), both
non-trainable, and switches the layer to the `"int8_from_<policy>"` dtype policy. A layer
built under such a policy (a loaded model) creates those variables directly.

A call then quantizes its inputs too (abs-max per row over the contracted axes, unless
the config's `activation_quantizer` is None), contracts int8 x int8 into int32 and
divides by both scales. The gradient with respect to the inputs is that of the float
contraction with the dequantized kernel, as Keras' custom gradient; the int8 kernel and
its scale get none, so `fit` trains the bias (and the LoRA factors) only.

With LoRA on, the update is added beside the int8 contraction; weights files hold the
kernel with the update merged in and quantized again, as in Keras.
"""

from __future__ import annotations

import re
import warnings

import jax

from shoal.backend.dtype_policy import QuantizedDTypePolicy, check_quantization_mode
from shoal.quantizers import (
    AbsMaxQuantizer,
    Int8QuantizationConfig,
    QuantizationConfig,
    abs_max_quantize,
    serialize,
)


def resolve_quantize_args(layer, mode, config):
    """`(mode, config)` checked as Keras' `quantize` wrapper does, before any change."""
    owner = f"{type(layer).__name__} '{layer.name}'"
    if isinstance(config, str):
        mode, config = config, None
    if config is not None:
        if not isinstance(config, QuantizationConfig):
            raise ValueError(
                f"{owner}: argument 'config' must be a QuantizationConfig (e.g. "
                f"Int8QuantizationConfig()); got {config!r}"
            )
        mode = mode if mode is not None else config.mode
    if mode is None:
        raise ValueError(
            f"{owner}: quantize needs argument 'mode' (e.g. 'int8') or 'config'; got neither"
        )
    check_quantization_mode(mode, owner=f"{owner}: quantize")
    if config is not None and config.mode != mode:
        raise ValueError(
            f"{owner}: argument 'mode' must match the config's mode {config.mode!r}; got {mode!r}"
        )
    if not layer.built:
        raise ValueError(
            f"{owner}: cannot quantize a layer that isn't yet built; build it (call it on "
            "data or `build(input_shape)`) first"
        )
    if layer.quantization_mode is not None:
        raise ValueError(
            f"{owner}: the layer is already quantized with "
            f"dtype_policy='{layer.dtype_policy.name}'; got mode={mode!r}"
        )
    if layer.compute_dtype == "float16":
        raise ValueError(
            f"{owner}: quantization mode {mode!r} doesn't work with compute_dtype='float16'; "
            "use a 'float32' or 'mixed_bfloat16' policy before calling quantize()"
        )
    return mode, (config if config is not None else Int8QuantizationConfig())


def quantize_model(model, mode, config, filters, **kwargs) -> None:
    """`Model.quantize`: check once, then quantize each leaf layer that can be."""
    type_check = kwargs.pop("type_check", True)
    if kwargs:
        raise ValueError(
            f"{type(model).__name__}.quantize: unrecognized keyword argument(s) {sorted(kwargs)}"
        )
    if (
        filters is not None
        and not isinstance(filters, (str, list, tuple))
        and not callable(filters)
    ):
        raise ValueError(
            f"{type(model).__name__}.quantize: argument 'filters' must be a regex string, a "
            f"list of them or a callable; got {filters!r}"
        )
    mode, config = resolve_quantize_args(model, mode, config)
    for layer in _leaf_layers(model):
        if not _matches(layer, filters):
            continue
        try:
            layer.quantize(mode, type_check=type_check, config=config)
        except NotImplementedError as err:
            warnings.warn(str(err), stacklevel=3)


def _leaf_layers(layer, seen=None) -> list:
    seen = set() if seen is None else seen
    out = []
    for sub in layer._layers:
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        out.extend(_leaf_layers(sub, seen) if sub._layers else [sub])
    return out


def _matches(layer, filters) -> bool:
    if filters is None:
        return True
    if callable(filters):
        return bool(filters(layer))
    patterns = [filters] if isinstance(filters, str) else list(filters)
    return any(re.search(p, layer.name) for p in patterns)


def not_quantizable_error(layer):
    return NotImplementedError(f"Layer {type(layer).__name__} does not have a `quantize` method "
                               "implemented.")  # fmt: skip


def with_float_gradient(forward, float_forward):
    """`forward(x, kernel, scale)` whose gradient in `x` is `float_forward`'s (and none in
    the int8 `kernel` or its `scale`)."""

    @jax.custom_vjp
    def fn(x, kernel, scale):
        return forward(x, kernel, scale)

    def fwd(x, kernel, scale):
        return forward(x, kernel, scale), (x, kernel, scale)

    def bwd(residuals, upstream):
        x, kernel, scale = residuals
        _, pullback = jax.vjp(lambda x_: float_forward(x_, kernel, scale), x)
        return (pullback(upstream)[0], None, None)

    fn.defvjp(fwd, bwd)
    return fn


class Int8Kernel:
    """Mixin (before `LoRAKernel`): `quantize("int8")` and the int8 call for one kernel.

    The layer provides the layout: `_kernel_reduced_axes()` (the contracted kernel axes),
    `_scale_from_kernel_layout(scale)` / `_scale_to_kernel_layout(scale)` (between the
    quantizer's keepdims scale and the stored `kernel_scale`), `_inputs_reduced_axes()`,
    `_inputs_scale_layout(scale)`, `_contract(x, kernel)` and `_lora_contract(x)`.
    """

    quantization_config = None
    inputs_quantizer = None
    _quantized_in_place = False

    def quantize(self, mode=None, type_check=True, config=None):
        """Replace the float kernel with int8 `kernel` + `kernel_scale` (Keras' int8)."""
        mode, config = resolve_quantize_args(self, mode, config)
        if type_check and type(self) is not self._quantizable_class():
            raise not_quantizable_error(self)
        quantizer = QuantizationConfig.weight_quantizer_or_default(
            config, AbsMaxQuantizer(axis=self._kernel_reduced_axes())
        )
        kernel, scale = quantizer(self._kernel.value, to_numpy=True)
        old = self._kernel
        self._trainable_variables = [v for v in self._trainable_variables if v is not old]
        self._non_trainable_variables = [v for v in self._non_trainable_variables if v is not old]
        self.quantization_config = config
        self._build_int8_kernel(tuple(old.shape))
        self._kernel.assign(kernel)
        self.kernel_scale.assign(self._scale_from_kernel_layout(scale))
        self.dtype_policy = QuantizedDTypePolicy(mode, self.dtype_policy.name)
        self._quantized_in_place = True

    def _own_weights(self):
        # Keras' order: creation order, so the bias comes first after an in-place quantize.
        own = super()._own_weights()
        if self.quantization_mode != "int8":
            return own
        int8 = [self._kernel, self.kernel_scale]
        bias = [self.bias] if self.bias is not None else []
        head = bias + int8 if self._quantized_in_place else int8 + bias
        return head + [v for v in own if all(v is not h for h in head)]

    def _build_int8_kernel(self, kernel_shape) -> None:
        """The int8 variables (a quantized policy's build, or `quantize`)."""
        self.inputs_quantizer = QuantizationConfig.activation_quantizer_or_default(
            self.quantization_config, AbsMaxQuantizer()
        )
        self._kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer="zeros", dtype="int8", trainable=False
        )
        self.kernel_scale = self.add_weight(
            name="kernel_scale",
            shape=self._kernel_scale_shape(kernel_shape),
            initializer="ones",
            trainable=False,
        )

    def _quantization_config_entry(self) -> dict:
        """Keras writes `quantization_config` into every config (None when unquantized)."""
        return {"quantization_config": serialize(self.quantization_config)}

    # -- forward -------------------------------------------------------------------------
    def _int8_call(self, inputs):
        compute = self.compute_dtype
        quantizer = self.inputs_quantizer

        def forward(x, kernel, scale):
            if quantizer is not None:
                x, inputs_scale = quantizer(x, axis=self._inputs_reduced_axes())
                scale = scale * self._inputs_scale_layout(inputs_scale)
            return self._contract(x, kernel).astype(compute) / scale

        def float_forward(x, kernel, scale):
            return self._contract(x, kernel.astype(compute) / self._scale_to_kernel_layout(scale))

        fn = with_float_gradient(forward, float_forward)
        x = fn(inputs, self._kernel.value, self.kernel_scale.value)
        if self.lora_enabled:
            x = x + (self.lora_alpha / self.lora_rank) * self._lora_contract(inputs)
            x = x.astype(compute)
        if self.bias is not None:
            x = x + self.bias.value
        return self.activation(x) if self.activation is not None else x

    # -- kernel views and weights files ---------------------------------------------------
    def _dequantized_kernel(self):
        kernel = self._kernel.value.astype(self.compute_dtype)
        return kernel / self._scale_to_kernel_layout(self.kernel_scale.value)

    @property
    def kernel(self):
        if self.quantization_mode != "int8" or not self.lora_enabled:
            return super().kernel
        merged = self._kernel.value + self._lora_delta()
        return merged.astype(self.compute_dtype)  # as Keras: int8 values plus the update

    def _kernel_value(self):
        if self.quantization_mode == "int8":
            return self._dequantized_kernel()
        return super()._kernel_value()

    def _int8_saved(self):
        """(kernel, scale) for a weights file: with LoRA, the update merged and requantized."""
        if not self.lora_enabled:
            return self._kernel, self.kernel_scale
        merged = self._dequantized_kernel() + self._lora_delta()
        kernel, scale = abs_max_quantize(merged, self._kernel_reduced_axes(), to_numpy=True)
        return kernel, self._scale_from_kernel_layout(scale)

    def save_own_variables(self, store):
        if self.quantization_mode != "int8":
            return super().save_own_variables(store)
        kernel, scale = self._int8_saved()
        values = [kernel] + ([self.bias] if self.bias is not None else []) + [scale]
        for i, value in enumerate(values):  # Keras' order: kernel, bias, kernel_scale
            store[str(i)] = value

    def load_own_variables(self, store):
        if self.quantization_mode != "int8":
            return super().load_own_variables(store)
        bias = [self.bias] if self.bias is not None else []
        self._load_variables(store, [self._kernel] + bias + [self.kernel_scale])
        if self.lora_enabled:
            self._reset_lora()
