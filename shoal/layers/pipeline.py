"""`Pipeline`: a plain layer that applies a list of layers in order (Keras 3 semantics).

Unlike `Sequential` it is not a Model: no compile/fit, no input layer; it is typically a
preprocessing or data-augmentation chain. As in Keras its `training` argument defaults to
True (an enclosing model's training flag, when there is one, takes precedence), and each
layer's output mask is passed to the next layer that accepts one.
"""

from __future__ import annotations

from shoal.backend.symbolic import KerasTensor, eval_output_spec
from shoal.layers.base import Layer


class Pipeline(Layer):
    """Applies `layers` one after the other.

    Args:
        layers: a list (or tuple) of layer instances.
        name: the layer's name.

    Example:
        >>> pipe = Pipeline([Rescaling(1 / 255), RandomFlip("horizontal")])
        >>> pipe(np.zeros((2, 8, 8, 3), "float32")).shape
        (2, 8, 8, 3)
    """

    def __init__(self, layers, name=None):
        super().__init__(name=name)
        if not isinstance(layers, (list, tuple)) or not all(isinstance(x, Layer) for x in layers):
            raise TypeError(
                f"Pipeline '{self.name}': argument 'layers' must be a list of Layer instances; "
                f"got {_describe(layers)}"
            )
        self._pipeline_layers = list(layers)
        # A plain attribute (Keras has a property): weight files store the layers under
        # `<pipeline>/layers/...`, the first path Keras' saving walk finds them by.
        self.layers = self._pipeline_layers
        self._pending_mask = None
        self.built = True

    def call(self, inputs, training=True, mask=None):
        for layer in self._pipeline_layers:
            kwargs = {}
            if mask is not None and layer._call_has_mask:
                kwargs["mask"] = mask
            if training is not None and layer._call_has_training:
                kwargs["training"] = training
            outputs = layer(inputs, **kwargs)
            # JAX arrays carry no mask: ask each layer for the mask of its output.
            mask = layer.compute_mask(inputs, mask)
            inputs = outputs
        if mask is not None:  # for compute_mask, which a Functional model calls next
            self._pending_mask = mask
        return inputs

    def compute_mask(self, inputs, previous_mask=None):
        mask, self._pending_mask = self._pending_mask, None
        if isinstance(inputs, KerasTensor) or mask is None:
            # Symbolic call: the eager trace's mask was abstract; chain the layers' masks on
            # their symbolic outputs instead.
            mask = self._symbolic_mask(inputs, previous_mask)
        return mask

    def _symbolic_mask(self, inputs, mask):
        if not isinstance(inputs, KerasTensor):
            return None
        for layer in self._pipeline_layers:
            outputs = layer.compute_output_spec(inputs)
            mask = layer.compute_mask(inputs, mask)
            inputs = outputs
        return mask

    def compute_output_spec(self, *args, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        spec = eval_output_spec(self.call, *args, **kwargs)
        self._pending_mask = None  # the abstract trace's mask is not a value
        return spec

    def compute_output_shape(self, input_shape):
        spec = self.compute_output_spec(KerasTensor(tuple(input_shape)))
        return tuple(spec.shape)

    def get_config(self):
        from shoal.saving.serialization import serialize_keras_object

        # Keras' keys exactly: its Pipeline takes only `layers` and `name`.
        return {"layers": serialize_keras_object(self._pipeline_layers), "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.saving.serialization import deserialize_keras_object

        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(
                "Pipeline.from_config: the config must hold 'layers', a list of serialized "
                f"layers; got layers={layers!r}"
            )
        config = dict(config)
        config["layers"] = [deserialize_keras_object(x, custom_objects) for x in layers]
        return super().from_config(config)


def _describe(value) -> str:
    if isinstance(value, (list, tuple)):
        kinds = [type(x).__name__ for x in value]
        return f"{type(value).__name__} of {kinds}"
    return repr(value)


__all__ = ["Pipeline"]
