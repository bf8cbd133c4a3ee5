"""`Sequential`: a linear stack of layers, run as a Functional graph once its input is known."""

from __future__ import annotations

from shoal.backend import dtype_policy as dtype_policies
from shoal.backend import naming
from shoal.backend.name_scopes import name_scope
from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer, _policy_config
from shoal.layers.core import InputLayer
from shoal.models.model import Model


class Sequential(Model):
    _called_batch_size = None  # the batch size of the call that built the graph, if any

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack: list[Layer] = []
        self._functional = None
        self._input_layer = None
        self._layers = []
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    # -- stack editing -----------------------------------------------------
    def add(self, layer, rebuild=True):
        if isinstance(layer, KerasTensor) and isinstance(
            getattr(layer, "_keras_history", (None,))[0], InputLayer
        ):
            layer = layer._keras_history[0]
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Sequential '{self.name}': only Layer instances can be added; got {layer!r} "
                f"of type {type(layer).__name__}"
            )
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError(
                    f"Sequential '{self.name}': an InputLayer can only be the first layer."
                )
            self._input_layer = layer
        else:
            if any(existing.name == layer.name for existing in self._stack):
                raise ValueError(
                    f"Sequential '{self.name}': all layers must have unique names; "
                    f"'{layer.name}' is already in the model."
                )
            if self._input_layer is None and not self._stack and layer._batch_input_shape:
                self._input_layer = InputLayer(
                    batch_shape=layer._batch_input_shape, dtype=layer.dtype
                )
            self._stack.append(layer)
        self._layers = list(self._stack)
        self.built = False
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}': there is no layer to pop.")
        layer = self._stack.pop()
        self._layers = list(self._stack)
        self._functional = None
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        if self._input_layer is not None and self._stack:
            self._build_graph(self._input_layer.batch_shape, self._input_layer.dtype)
            return
        first = self._stack[0] if len(self._stack) > 1 else None
        try:
            inputs = first.inputs if getattr(first, "built", False) else None
        except (AttributeError, ValueError):  # a layer, or a model without symbolic inputs
            inputs = None
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            # A model with one known input first (a pretrained base): build from it, as Keras.
            self._build_graph(inputs[0].shape, inputs[0].dtype)

    def _build_graph(self, batch_shape, dtype):
        from shoal.models.functional import Functional

        if self._input_layer is None or self._input_layer.batch_shape != tuple(batch_shape):
            self._input_layer = InputLayer(batch_shape=batch_shape, dtype=dtype)
        x = self._input_layer.output
        try:
            with name_scope(self.name, caller=self):  # weights: "sequential/dense/kernel"
                for layer in self._stack:
                    x = layer(x)
        except NotImplementedError:
            # A layer without `call` (one that only holds state or assets): Keras leaves
            # the graph unbuilt and goes on; so does shoal.
            self._build_shapes = tuple(batch_shape)
            self.built = True
            return
        self._functional = Functional(self._input_layer.output, x, name=f"{self.name}_graph")
        self._functional._lenient_inputs = True
        naming.auto_name("Functional")  # Keras' Sequential takes a Functional's name here
        self._build_shapes = tuple(batch_shape)
        self.built = True

    # -- Layer API -----------------------------------------------------------
    @property
    def layers(self) -> list:
        return list(self._stack)

    def build(self, input_shape=None):
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(
                    f"Sequential '{self.name}' cannot be built without an input shape: add an "
                    "Input, or call the model on data, or call build(input_shape)."
                )
            input_shape = self._input_layer.batch_shape
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}' has no layers; add one before building.")
        self._called_batch_size = None
        self._build_graph(tuple(input_shape), "float32")

    def _maybe_build(self, args, kwargs):
        if self._functional is not None:
            return
        first = args[0] if args else next(iter(kwargs.values()))
        if not hasattr(first, "shape"):
            return  # nested inputs (a dict, a list): no graph; `call` applies the layers in turn
        shape = (None,) + tuple(first.shape[1:])
        # The graph keeps a free batch size (exports, other batch sizes); Keras builds it
        # with the call's, which `summary()` shows: it is kept for that.
        batch = first.shape[0] if first.shape else None
        self._called_batch_size = batch if isinstance(batch, int) else None
        dtype = str(getattr(first, "dtype", "float32"))
        if self._input_layer is not None:
            shape, dtype = self._input_layer.batch_shape, self._input_layer.dtype
            self._called_batch_size = None
        self._build_graph(shape, dtype if dtype != "float64" else "float32")

    def call(self, inputs, training=None, mask=None):
        if self._functional is not None:
            return self._functional.call(inputs, training=training, mask=mask)
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}' has no layers; add one before calling it.")
        # No graph (nested inputs, or a layer whose output shape cannot be inferred): apply
        # the layers in turn, as Keras; each output carries its mask to the next layer.
        x = inputs
        for layer in self._stack:
            x = layer(x, training=training)
        return x

    def compute_output_spec(self, inputs, training=None, mask=None):
        if self._functional is not None:
            return self._functional.compute_output_spec(inputs)
        for layer in self._stack:
            inputs = layer.compute_output_spec(inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        if self._functional is not None:
            return self._functional.compute_output_shape(input_shape)
        for layer in self._stack:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    @property
    def inputs(self):
        return self._functional.inputs if self._functional else None

    @property
    def input(self):
        return self._graph_attribute("input")

    @property
    def output(self):
        return self._graph_attribute("output")

    def _graph_attribute(self, what):
        if self._functional is None:
            raise AttributeError(
                f"Sequential model '{self.name}' has no {what} yet: give it an Input first "
                "(or call it on data / build it)."
            )
        return getattr(self._functional, what)

    @property
    def outputs(self):
        return self._functional.outputs if self._functional else None

    @property
    def input_shape(self):
        return self._functional.input_shape if self._functional else None

    @property
    def output_shape(self):
        return self._functional.output_shape if self._functional else None

    @property
    def output_names(self):
        if self._functional is not None:
            return self._functional.output_names
        return [self._stack[-1].name] if self._stack else []

    @property
    def input_names(self):
        return self._functional.input_names if self._functional else []

    # -- config --------------------------------------------------------------
    def get_config(self):
        from shoal.saving.serialization import serialize_keras_object

        layers = []
        if self._input_layer is not None:
            layers.append(serialize_keras_object(self._input_layer))
        for layer in self._stack:
            entry = serialize_keras_object(layer)
            build = layer.get_build_config()
            if build is not None:
                entry["build_config"] = build
            layers.append(entry)
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": _policy_config(self.dtype_policy),
            "layers": layers,
        }
        if self._build_shapes is not None:
            config["build_input_shape"] = list(self._build_shapes)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.saving.serialization import deserialize_keras_object

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if config.get("dtype") is not None:
            model.dtype_policy = dtype_policies.get(config["dtype"])
        for entry in config["layers"]:
            layer = deserialize_keras_object(entry, custom_objects=custom_objects)
            model.add(layer, rebuild=False)
        model._maybe_rebuild()
        if model._functional is None and config.get("build_input_shape"):
            model.build(tuple(config["build_input_shape"]))
        return model
