"""`Model`: a Layer that can be trained, evaluated, summarised and saved.

`Model(inputs, outputs)` builds a Functional model; subclassing `Model` gives
a model whose `call` is Python code over layers held as attributes.
"""

from __future__ import annotations

import jax

from shoal.backend.dtypes import standardize_dtype
from shoal.backend.symbolic import KerasTensor, eval_output_spec, is_keras_tensor
from shoal.layers.base import Layer, _shapes, _shapes_to_specs
from shoal.trainers.trainer import Trainer


def _functional_arguments(args, kwargs) -> bool:
    """Whether a Model constructor was called the Functional way: (inputs, outputs)."""
    return (
        len(args) == 2
        or (len(args) == 1 and "outputs" in kwargs)
        or ("inputs" in kwargs and "outputs" in kwargs)
    )


def _inject_functional(cls):
    """Make a Model subclass a Functional subclass: `Model` in its bases becomes
    `Functional`, so the class's own methods (a custom `train_step`, ...) still come
    first. This is how Keras 3 lets `MyModel(inputs, outputs)` build a graph model."""
    from shoal.models.functional import Functional

    if cls is Model:
        return Functional
    if cls is object or not issubclass(cls, Model) or issubclass(cls, Functional):
        return cls
    cls.__bases__ = tuple(_inject_functional(base) for base in cls.__bases__)
    return cls


class Model(Trainer, Layer):
    def __new__(cls, *args, **kwargs):
        if cls is Model and _functional_arguments(args, kwargs):
            from shoal.models.functional import Functional

            return Functional.__new__(Functional)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args, **kwargs):
        if _functional_arguments(args, kwargs):
            # A subclass called with (inputs, outputs), as `Model` itself would be: it
            # becomes a Functional subclass (for good, as in Keras) and is built as one.
            from shoal.models.functional import Functional

            _inject_functional(type(self))
            Functional.__init__(self, *args, **kwargs)
            return
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise TypeError(
                f"{type(self).__name__}: got positional arguments {args!r} or only one of "
                "`inputs`/`outputs`; a Model takes both `inputs` and `outputs` (a Functional "
                "model) or neither (a subclassed model)."
            )
        Layer.__init__(self, **{k: v for k, v in kwargs.items() if k in _MODEL_KWARGS})
        Trainer.__init__(self)
        extra = set(kwargs) - _MODEL_KWARGS
        if extra:
            raise TypeError(f"Model: unrecognized keyword argument(s) {sorted(extra)}")

    # -- structure ---------------------------------------------------------
    @property
    def layers(self) -> list:
        return self._layers

    def get_layer(self, name=None, index=None):
        if (name is None) == (index is None):
            raise ValueError(
                f"Model '{self.name}': get_layer needs exactly one of `name` or `index`; "
                f"got name={name!r}, index={index!r}"
            )
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Model '{self.name}': get_layer index {index} is out of range; the model "
                    f"has {len(layers)} layers."
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"Model '{self.name}': no layer named {name!r}; layers are "
            f"{[layer.name for layer in layers]}"
        )

    def _maybe_build(self, args, kwargs) -> None:
        """A subclassed model's first call builds it by tracing `call` on inputs like the
        given ones: their shapes, batch size included, and dtypes, as Keras (sub-layers record
        the shapes they were built with, which `summary()` shows). Where `call` cannot be
        traced (Python branches on values, `int(...)` of a tensor), its layers build in the
        eager call that follows, as in Keras."""
        if self.built or type(self).build is not Model.build or not args:
            return super()._maybe_build(args, kwargs)
        first = args[0]
        spec = jax.tree_util.tree_map(_spec_like, first, is_leaf=is_keras_tensor)
        try:
            eval_output_spec(lambda x: self.call(x, *args[1:], **kwargs), spec)
        except Exception:  # noqa: BLE001 - eager-only code: the eager call builds instead
            pass
        self._build_shapes = _shapes(spec)
        self.built = True

    def build(self, input_shape=None):
        """Create the weights of a subclassed model by tracing `call` on `input_shape`."""
        if self.built or input_shape is None:
            self.built = True
            return
        spec = _shapes_to_specs(input_shape, "float32")
        eval_output_spec(self.call, spec)
        self._build_shapes = input_shape
        self.built = True

    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Quantize the weights of every layer that can be (Dense, EinsumDense, Embedding).

        Args:
            mode: `"int8"` or `"int4"` (Keras' other modes raise NotImplementedError in
                shoal).
            config: optional `shoal.quantizers.Int8QuantizationConfig` or
                `Int4QuantizationConfig` (e.g. its `block_size`; its mode is used when
                `mode` is None).
            filters: optional regex string, list of them (matched against layer names) or
                callable `layer -> bool`: only matching layers are quantized.

        Layers without quantization support are skipped with a warning, as in Keras. The
        model must be built first.
        """
        from shoal.layers.quantization import quantize_model

        quantize_model(self, mode, config, filters, **kwargs)
        self._functions = {}  # the compiled steps closed over the float variables

    def export(self, filepath, format="onnx", **kwargs):
        """Write the trained model for another runtime: `format="onnx"` (ONNX, opset >= 17),
        `"tflite"` (TFLite / LiteRT flatbuffer) or `"stablehlo"` (a `jax.export` artifact).
        See docs/deploy.md."""
        from shoal.export.api import export_model

        return export_model(self, filepath, format=format, **kwargs)

    def __reduce__(self):
        # pickle / copy.deepcopy go through the `.keras` archive, as in Keras 3 (its
        # KerasSaveable): optimizer transforms hold closures that pickle cannot store.
        from shoal.saving.pickling import model_from_bytes, model_to_bytes

        return (model_from_bytes, (model_to_bytes(self),))

    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ):
        from shoal.models.summary import print_summary

        print_summary(
            self,
            line_length=line_length,
            positions=positions,
            print_fn=print_fn,
            expand_nested=expand_nested,
            show_trainable=show_trainable,
            layer_range=layer_range,
        )

    # -- saving ------------------------------------------------------------
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        from shoal.saving.api import save_model

        save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Save the weights to a `.weights.h5` file or, with `max_shard_size` (GB), to a
        `.weights.json` index and shards of at most that size (Keras 3's layouts)."""
        from shoal.saving.api import save_weights

        save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def get_state_tree(self, value_format="backend_tensor"):
        """Every variable (trainable, non-trainable, optimizer, metrics) as nested dicts
        keyed by the parts of its path, as Keras 3 returns them; `value_format` is
        "backend_tensor" (JAX arrays) or "numpy_array"."""
        from shoal.models.state_tree import get_state_tree

        return get_state_tree(self, value_format)

    def set_state_tree(self, state_tree):
        """Assign the values of a tree shaped as `get_state_tree` returns it."""
        from shoal.models.state_tree import set_state_tree

        set_state_tree(self, state_tree)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        from shoal.saving.api import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs) -> str:
        import json

        from shoal.saving.serialization import serialize_keras_object

        return json.dumps(serialize_keras_object(self), **kwargs)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        return self._with_auto_config(config, Model.get_config)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.models.functional import Functional

        if "layers" in config and "input_layers" in config and cls in (Model, Functional):
            return Functional.from_config(config, custom_objects=custom_objects)
        try:
            return cls(**config)
        except TypeError as err:
            raise TypeError(
                f"Unable to revive model {cls.__name__} from config: {err}. A subclassed "
                "Model must implement get_config() and from_config() to be serialized."
            ) from err


_MODEL_KWARGS = {"name", "trainable", "dtype"}


def _spec_like(value):
    """A KerasTensor with the shape and dtype of `value` (an array or KerasTensor)."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return value
    return KerasTensor(tuple(shape), dtype=standardize_dtype(value.dtype))
