"""Core layers: InputLayer / Input, Dense, Identity, Lambda."""

from __future__ import annotations

import numbers
import warnings

import jax.numpy as jnp

from shoal import activations, constraints, initializers, quantizers, regularizers
from shoal.backend import dtypes
from shoal.backend.symbolic import KerasTensor, Node, eval_output_spec
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec
from shoal.layers.lora import LoRAKernel
from shoal.layers.quantization import QuantizedKernel
from shoal.ops import cpu_matmul


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)  # numpy ints too


def _serialize(module, obj):
    return None if obj is None else module.serialize(obj)


class InputLayer(Layer):
    """The entry point of a functional graph: holds one symbolic input tensor."""

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        sparse=None,
        ragged=None,
        batch_shape=None,
        input_tensor=None,
        optional=False,
        name=None,
        **kwargs,
    ):
        if ragged:
            raise ValueError(
                "InputLayer: argument `ragged` must be False or None (ragged tensors are a "
                "TensorFlow type; pad sequences to one length instead); got ragged=True"
            )
        if isinstance(dtype, str) and dtype.lower() in ("string", "str"):
            raise ValueError(
                "InputLayer: argument `dtype` must be a numeric or bool dtype (a model runs on "
                "JAX arrays, which hold no strings; apply TextVectorization / StringLookup / "
                "Hashing to the strings before the model, e.g. in the data pipeline, and give "
                f"the model their integer or float outputs); got dtype={dtype!r}"
            )
        # Keras 2-style spellings accepted by Keras 3 configs.
        if batch_shape is None and "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        if "input_shape" in kwargs:
            warnings.warn(
                "Argument `input_shape` is deprecated. Use `shape` instead.", stacklevel=2
            )
            input_shape = kwargs.pop("input_shape")
            shape = input_shape if shape is None else shape
        super().__init__(name=name, dtype=dtype)
        if input_tensor is not None:
            batch_shape = self._check_input_tensor(input_tensor, shape, batch_size, batch_shape)
            for arg, value, given in [
                ("dtype", dtype, input_tensor.dtype),
                ("sparse", sparse, bool(getattr(input_tensor, "sparse", False))),
            ]:
                if value is not None and value != given:
                    raise ValueError(
                        f"InputLayer '{self.name}': you cannot provide an incompatible `{arg}` "
                        f"with `input_tensor`; got {arg}={value!r}, input_tensor.{arg}={given!r}"
                    )
            dtype = input_tensor.dtype
        else:
            if shape is not None and batch_shape is not None:
                raise ValueError(
                    f"InputLayer '{self.name}': pass either `shape` or `batch_shape`, not both "
                    f"(got shape={shape}, batch_shape={batch_shape})."
                )
            if batch_size is not None and batch_shape is not None:
                raise ValueError(
                    f"InputLayer '{self.name}': pass either `batch_size` or `batch_shape`, not "
                    f"both (got batch_size={batch_size}, batch_shape={batch_shape})."
                )
        if batch_shape is None:
            if shape is None:
                raise ValueError(
                    f"InputLayer '{self.name}': argument `shape` is required, e.g. "
                    "Input(shape=(28, 28, 1)); got shape=None."
                )
            if _is_int(shape):
                shape = (shape,)
            if not isinstance(shape, (tuple, list)):
                raise ValueError(
                    f"InputLayer '{self.name}': argument `shape` must be a tuple of integers "
                    f"or None; got {shape!r}"
                )
            batch_shape = (batch_size,) + tuple(shape)
        for d in batch_shape:
            if d is not None and (not _is_int(d) or d < 0):
                raise ValueError(
                    f"InputLayer '{self.name}': every dimension of `shape` must be a "
                    f"non-negative integer or None; got {tuple(batch_shape)}"
                )
        batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self._batch_shape = tuple(batch_shape)
        self._dtype = dtypes.standardize_dtype(dtype)
        self.sparse = bool(sparse)
        self.ragged = False
        self.optional = optional
        self.built = True
        tensor = KerasTensor(self._batch_shape, dtype=self._dtype, name=self.name)
        Node(self, call_args=(), outputs=tensor)  # `self.output` is this tensor

    def _check_input_tensor(self, tensor, shape, batch_size, batch_shape):
        """The batch shape of `Input(tensor=...)`; other arguments must agree with it."""
        owner = f"InputLayer '{self.name}'"
        if not isinstance(tensor, KerasTensor):
            raise ValueError(
                f"{owner}: Argument `input_tensor` must be a KerasTensor; got "
                f"{type(tensor).__name__}"
            )
        given = tuple(tensor.shape)
        if batch_size is not None and (not given or given[0] != batch_size):
            raise ValueError(
                f"{owner}: you cannot provide an incompatible `batch_size` with "
                f"`input_tensor`; got batch_size={batch_size}, input_tensor.shape={given}"
            )
        if shape is not None and tuple(shape) != given[1:]:
            raise ValueError(
                f"{owner}: you cannot provide an incompatible `shape` with `input_tensor`; "
                f"got shape={tuple(shape)}, input_tensor.shape={given}"
            )
        if batch_shape is not None and tuple(batch_shape) != given:
            raise ValueError(
                f"{owner}: you cannot provide an incompatible `batch_shape` with "
                f"`input_tensor`; got batch_shape={tuple(batch_shape)}, "
                f"input_tensor.shape={given}"
            )
        return given

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def dtype(self):
        return self._dtype

    def call(self, inputs=None):
        return inputs

    def get_config(self):
        return {
            "batch_shape": list(self._batch_shape),
            "dtype": self._dtype,
            "sparse": self.sparse,
            "optional": self.optional,
            "name": self.name,
        }


def Input(
    shape=None,
    batch_size=None,
    dtype=None,
    sparse=None,
    ragged=None,
    batch_shape=None,
    name=None,
    tensor=None,
    optional=False,
):
    """A symbolic input tensor, the start of a Functional model."""
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        ragged=ragged,
        batch_shape=batch_shape,
        name=name,
        input_tensor=tensor,
        optional=optional,
    )
    return layer.output


def _positive_int(layer, arg, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{type(layer).__name__}: argument '{arg}' must be a positive integer, got {value!r}"
        )
    return value


class Dense(QuantizedKernel, LoRAKernel, Layer):
    """`output = activation(dot(input, kernel) + bias)` over the last axis.

    `lora_rank` (or `enable_lora(rank)` once built) freezes the kernel and trains a
    low-rank update instead (see `shoal.layers.lora`). `quantize("int8")` stores the
    kernel as int8 with one scale per unit, `quantize("int4")` packed two per byte with
    per-unit or per-group scales, `quantize("float8")` trains and infers in float8 with
    delayed scaling (see `shoal.layers.quantization`)."""

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = _positive_int(self, "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._init_lora(lora_rank, lora_alpha)
        self.quantization_config = quantizers.deserialize(quantization_config)
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Dense '{self.name}': the last dimension of the input must be known; "
                f"got input shape {tuple(input_shape)}"
            )
        if self.quantization_mode is not None:
            self._build_quantized_kernel((input_dim, self.units))
        if self._builds_float_kernel:
            self._kernel = self.add_weight(
                name="kernel",
                shape=(input_dim, self.units),
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True
        self._maybe_enable_lora()

    def call(self, inputs, training=None):
        if self.quantization_mode is not None:
            return self._quantized_call(inputs, training)
        x = cpu_matmul.matmul(inputs, self._kernel_value())
        if self.bias is not None:
            x = x + self.bias.value
        return self.activation(x) if self.activation is not None else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize(regularizers, self.kernel_regularizer),
            "bias_regularizer": _serialize(regularizers, self.bias_regularizer),
            "kernel_constraint": _serialize(constraints, self.kernel_constraint),
            "bias_constraint": _serialize(constraints, self.bias_constraint),
            **self._quantization_config_entry(),
            **self._lora_config(),
        }

    # -- quantized layout (see shoal.layers.quantization) ---------------------------------------
    _int4_contracts_values = True

    def _quantizable_class(self):
        return Dense

    def _kernel_reduced_axes(self):
        return (0,)

    def _kernel_scale_shape(self, kernel_shape):
        return (kernel_shape[-1],)

    def _scale_from_kernel_layout(self, scale):
        return scale.reshape(scale.shape[-1:])

    def _scale_to_kernel_layout(self, scale):
        return scale

    def _inputs_reduced_axes(self):
        return -1

    def _inputs_scale_layout(self, scale):
        return scale

    def _contract(self, x, kernel):
        if x.dtype == jnp.int8 and kernel.dtype == jnp.int8:
            return jnp.matmul(x, kernel, preferred_element_type=jnp.int32)
        return jnp.matmul(x, kernel)

    def _lora_contract(self, x):
        return jnp.matmul(jnp.matmul(x, self.lora_kernel_a.value), self.lora_kernel_b.value)


class Identity(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class Lambda(Layer):
    """Wraps a Python function as a layer. Not loadable from files unless safe_mode=False."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(
                f"Lambda '{self.name}': argument 'function' must be callable, got {function!r}"
            )
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape
        self._mask = mask
        self.supports_masking = mask is not None
        self.built = True

    def call(self, inputs, mask=None):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            raise NotImplementedError
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        # Given without the batch axis; the batch size is the (first) input's.
        first = input_shape
        while isinstance(first, (list, tuple, dict)) and first and not _is_shape(first):
            first = list(first.values())[0] if isinstance(first, dict) else first[0]
        return (first[0] if first else None,) + tuple(self._output_shape)

    def compute_output_spec(self, *args, **kwargs):
        if self._output_shape is None:
            kwargs = {k: v for k, v in kwargs.items() if k != "training"}
            return eval_output_spec(self.call, *args, **kwargs)
        return super().compute_output_spec(*args, **kwargs)

    def compute_mask(self, inputs, previous_mask=None):
        if callable(self._mask):
            return self._mask(inputs, previous_mask)
        return self._mask

    def get_config(self):
        from shoal.saving.lambda_code import serialize_function
        from shoal.saving.serialization import serialize_keras_object

        return {
            **super().get_config(),
            "function": serialize_function(self.function),
            "output_shape": self._output_shape if not callable(self._output_shape) else None,
            # Tensors and arrays among the arguments become `__tensor__` / `__numpy__`
            # entries, as in Keras.
            "arguments": serialize_keras_object(self.arguments),
        }

    @classmethod
    def from_config(cls, config, safe_mode=None):
        from shoal.saving.lambda_code import deserialize_function
        from shoal.saving.serialization import deserialize_keras_object

        config = dict(config)
        config["function"] = deserialize_function(config["function"], safe_mode=safe_mode)
        if config.get("arguments"):
            config["arguments"] = deserialize_keras_object(config["arguments"])
        return super().from_config(config)


def _is_shape(value) -> bool:
    return isinstance(value, (list, tuple)) and all(d is None or isinstance(d, int) for d in value)
