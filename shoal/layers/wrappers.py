"""Layer wrappers: `Wrapper` (base), `Bidirectional` and `TimeDistributed` (Keras 3).

A wrapper holds other layers as attributes (`layer`, or `forward_layer` and
`backward_layer`), so their weights are its weights, in that order, and the
weight files name them as Keras does.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp

from shoal.backend.scope import StatelessScope
from shoal.backend.symbolic import eval_output_spec
from shoal.layers.base import Layer

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)
_RNN_ATTRIBUTES = ("go_backwards", "return_sequences", "return_state")


def _label(layer) -> str:
    return f"{type(layer).__name__} '{layer.name}'"


def _serialize(layer) -> dict:
    from shoal.saving.serialization import serialize_keras_object

    return serialize_keras_object(layer)


def _deserialize(config, custom_objects=None):
    from shoal.saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects=custom_objects)


def _recreate(layer, **overrides):
    """A fresh, unbuilt copy of `layer` from its config, with some config entries replaced.

    The layer's own class rebuilds it (no registry lookup), so custom RNN-like layers
    work without being registered.
    """
    from shoal.saving.serialization import CustomObjectScope, serialize_dict

    config = copy.deepcopy(serialize_dict(layer.get_config()))
    config.update(overrides)
    # An RNN's config nests its cell's; let an unregistered cell class be found too.
    cell = getattr(layer, "cell", None)
    found = {} if cell is None else {type(cell).__name__: type(cell)}
    with CustomObjectScope(found):
        return type(layer).from_config(config)


def _traced_spec(fn, *args, **kwargs):
    # Abstract tracing must not write tracers into (stateful) variables: run it in a scope.
    with StatelessScope():
        return eval_output_spec(fn, *args, **kwargs)


def _build_child(child, input_shape) -> None:
    if not child.built:
        # The wrapper rebuilds its children itself: they record no build config of their
        # own (a user's `build` records one, see `_scoped_build`), so a config round trip
        # gives the same config.
        recorded = getattr(child, "_build_shapes", None)
        child.build(input_shape)
        child._build_shapes = recorded
        child.built = True


class Wrapper(Layer):
    """Abstract base of layers that wrap another layer (`TimeDistributed`, ...).

    Args:
        layer: the `Layer` instance to wrap.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(
                f"{_label(self)}: argument 'layer' must be a shoal.layers.Layer instance, "
                f"got {layer!r} of type {type(layer).__name__}"
            )
        self.layer = layer

    def build(self, input_shape=None):
        _build_child(self.layer, input_shape)
        self.built = True

    def get_config(self):
        return {**super().get_config(), "layer": _serialize(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = _deserialize(config["layer"], custom_objects)
        return super().from_config(config)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and backwards over the input and merges the outputs.

    Args:
        layer: an RNN layer (`LSTM`, `GRU`, `RNN`, ...) or any sequence layer with
            `go_backwards`, `return_sequences` and `return_state` attributes and a
            config. The forward layer is rebuilt from its config (its weights are
            not reused); the backward layer is the same config with `go_backwards`
            flipped.
        merge_mode: how forward and backward outputs combine: `"concat"` (default),
            `"sum"`, `"mul"`, `"ave"`, or `None` (return both as a list).
        weights: optional initial weights, forward layer's then backward layer's.
        backward_layer: optional layer for the backward direction; it must have the
            opposite `go_backwards` and the same `stateful`, `return_sequences` and
            `return_state` as `layer`.

    Call arguments are the wrapped layer's: `sequences`, `initial_state` (forward
    states first, then backward states), `mask` (given to both directions), `training`.

    Weights are the forward layer's followed by the backward layer's, as in Keras,
    so `set_weights(keras_bidirectional.get_weights())` works.

    Example:
        >>> x = Input((5, 10))
        >>> y = Bidirectional(LSTM(8, return_sequences=True))(x)   # (None, 5, 16)
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if weights is not None and len(weights) == 0:
            weights = None
        super().__init__(weights=weights, **kwargs)
        self._check_rnn_like("layer", layer)
        if backward_layer is not None:
            self._check_rnn_like("backward_layer", backward_layer)
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"{_label(self)}: argument 'merge_mode' must be one of "
                f"{', '.join(map(repr, _MERGE_MODES))}, got {merge_mode!r}"
            )
        base = layer.name.removeprefix("forward_")
        self.forward_layer = _recreate(layer, name=f"forward_{base}")
        if backward_layer is None:
            self.backward_layer = _recreate(
                layer,
                name=f"backward_{layer.name.removeprefix('backward_')}",
                go_backwards=not layer.go_backwards,
            )
        else:
            self.backward_layer = backward_layer
        if hasattr(layer, "use_cudnn"):  # not in the config: kept by hand, as Keras
            self.forward_layer.use_cudnn = layer.use_cudnn
            self.backward_layer.use_cudnn = layer.use_cudnn
        self._check_directions()
        for child in (self.forward_layer, self.backward_layer):
            # Masked steps must give zeros when whole sequences are returned, as in Keras.
            if getattr(child, "zero_output_for_mask", None) is not None:
                child.zero_output_for_mask = child.return_sequences
        self.merge_mode = merge_mode
        self.stateful = bool(getattr(layer, "stateful", False))
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self.input_spec = getattr(layer, "input_spec", None)

    # -- validation ---------------------------------------------------------------------
    def _check_rnn_like(self, arg, value) -> None:
        if not isinstance(value, Layer):
            raise ValueError(
                f"{_label(self)}: argument '{arg}' must be a shoal.layers.Layer instance "
                f"(an RNN layer such as LSTM or GRU), got {value!r} of type "
                f"{type(value).__name__}"
            )
        missing = [a for a in _RNN_ATTRIBUTES if not hasattr(value, a)]
        if missing:
            raise ValueError(
                f"{_label(self)}: argument '{arg}' must be a recurrent layer (an RNN such as "
                f"LSTM or GRU, or a layer with attributes {', '.join(_RNN_ATTRIBUTES)}); got "
                f"{type(value).__name__} '{value.name}', which lacks {', '.join(missing)}"
            )

    def _check_directions(self) -> None:
        forward, backward = self.forward_layer, self.backward_layer
        if bool(forward.go_backwards) == bool(backward.go_backwards):
            raise ValueError(
                f"{_label(self)}: argument 'backward_layer' must have the opposite "
                f"'go_backwards' of 'layer'; got go_backwards={forward.go_backwards} for "
                f"both (layer '{forward.name}', backward_layer '{backward.name}')"
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            f, b = getattr(forward, attr, False), getattr(backward, attr, False)
            if bool(f) != bool(b):
                raise ValueError(
                    f"{_label(self)}: argument 'backward_layer' must have the same '{attr}' "
                    f"as 'layer'; got {attr}={f} for layer and {attr}={b} for backward_layer"
                )

    # -- building and calling -----------------------------------------------------------
    def build(self, sequences_shape, initial_state_shape=None):
        _build_child(self.forward_layer, sequences_shape)
        _build_child(self.backward_layer, sequences_shape)
        self.built = True

    def _child_kwargs(self, child, mask, training) -> dict:
        kwargs = {}
        if mask is not None and getattr(child, "_call_has_mask", False):
            kwargs["mask"] = mask
        if training is not None and getattr(child, "_call_has_training", False):
            kwargs["training"] = training
        return kwargs

    def call(self, sequences, initial_state=None, mask=None, training=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        forward_kwargs = self._child_kwargs(self.forward_layer, mask, training)
        backward_kwargs = self._child_kwargs(self.backward_layer, mask, training)
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else []
            if len(states) < 2 or len(states) % 2:
                raise ValueError(
                    f"{_label(self)}: argument 'initial_state' must be a list of an even "
                    "number of states (the forward layer's, then the backward layer's); got "
                    f"{len(states) if states else type(initial_state).__name__}"
                )
            half = len(states) // 2
            forward_kwargs["initial_state"] = states[:half]
            backward_kwargs["initial_state"] = states[half:]
        y = self.forward_layer(sequences, **forward_kwargs)
        y_rev = self.backward_layer(sequences, **backward_kwargs)

        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        y = y.astype(self.compute_dtype)
        y_rev = y_rev.astype(self.compute_dtype)
        if self.return_sequences:
            y_rev = jnp.flip(y_rev, axis=1)
        if self.merge_mode == "concat":
            output = (jnp.concatenate([y, y_rev], axis=-1),)
        elif self.merge_mode == "sum":
            output = (y + y_rev,)
        elif self.merge_mode == "ave":
            output = ((y + y_rev) / 2,)
        elif self.merge_mode == "mul":
            output = (y * y_rev,)
        else:
            output = (y, y_rev)
        if self.return_state or self.merge_mode is None:
            return output + states
        return output[0]

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=None):
        return _traced_spec(self.call, sequences, initial_state=initial_state, mask=mask)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        output_shape = self.forward_layer.compute_output_shape(sequences_shape)
        state_shapes = []
        if self.return_state:
            output_shape, state_shapes = output_shape[0], list(output_shape[1:])
        output_shape = tuple(output_shape)
        if self.merge_mode == "concat":
            last = output_shape[-1]
            outputs = [output_shape[:-1] + (None if last is None else 2 * last,)]
        elif self.merge_mode is None:
            outputs = [output_shape, output_shape]
        else:
            outputs = [output_shape]
        shapes = outputs + [tuple(s) for s in state_shapes] * 2
        return shapes[0] if len(shapes) == 1 else shapes

    def compute_mask(self, inputs, previous_mask=None):
        mask = previous_mask
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.merge_mode is None:
            outputs = [mask, mask] if self.return_sequences else [None, None]
        else:
            outputs = [mask if self.return_sequences else None]
        if self.return_state:
            n_states = self._state_count()
            outputs = outputs + [None] * (2 * n_states)
        if len(outputs) == 1:
            return outputs[0]
        return outputs if any(m is not None for m in outputs) else None

    def _state_count(self) -> int:
        sizes = getattr(self.forward_layer, "state_size", None)
        if isinstance(sizes, (list, tuple)):
            return len(sizes)
        if sizes is not None:
            return 1
        cell = getattr(self.forward_layer, "cell", None)
        sizes = getattr(cell, "state_size", 1)
        return len(sizes) if isinstance(sizes, (list, tuple)) else 1

    # -- state --------------------------------------------------------------------------
    @property
    def states(self):
        forward = getattr(self.forward_layer, "states", None)
        backward = getattr(self.backward_layer, "states", None)
        if forward and backward:
            return tuple(forward) + tuple(backward)
        return None

    def reset_state(self) -> None:
        if not self.stateful:
            raise AttributeError(
                f"{_label(self)}: reset_state() needs a stateful layer (stateful=True)."
            )
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self) -> None:
        self.reset_state()

    # -- config -------------------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "merge_mode": self.merge_mode,
            "layer": _serialize(self.forward_layer),
            "backward_layer": _serialize(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        config["layer"] = _deserialize(config["layer"], custom_objects)
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = _deserialize(backward, custom_objects)
        return super().from_config(config)


class TimeDistributed(Wrapper):
    """Applies a layer to every temporal slice of an input.

    The input is `(batch, time, ...)`; the wrapped layer sees `(batch * time, ...)`
    (time is folded into the batch, so one call covers every step and the same
    weights serve all of them) and the result is unfolded to `(batch, time, ...)`.
    A `(batch, time, ...)` mask is folded the same way for layers that take one,
    and passes through unchanged as the output mask, as in Keras 3.

    Note: layers whose training-mode output depends on the whole batch (e.g.
    BatchNormalization) see statistics over `batch * time` samples.

    Example:
        >>> x = Input((10, 32, 32, 3))
        >>> TimeDistributed(Conv2D(8, 3))(x).shape     # (None, 10, 30, 30, 8)
    """

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        self.supports_masking = True

    def _child_input_shape(self, input_shape):
        shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else None
        if (
            shape is None
            or len(shape) < 3
            or not all(d is None or isinstance(d, int) for d in shape)
        ):
            raise ValueError(
                f"{_label(self)}: argument 'inputs' must have rank >= 3 "
                f"(batch, time, ...), got an input of shape {input_shape}"
            )
        return (shape[0],) + shape[2:]

    def build(self, input_shape):
        super().build(self._child_input_shape(input_shape))

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_input_shape(input_shape))
        return (child[0], tuple(input_shape)[1]) + tuple(child[1:])

    def compute_output_spec(self, inputs, training=None, mask=None):
        return _traced_spec(self.call, inputs, mask=mask)

    def call(self, inputs, training=None, mask=None):
        shape = tuple(inputs.shape)
        self._child_input_shape(shape)
        batch, steps = shape[0], shape[1]
        kwargs = {}
        if mask is not None:
            mask_shape = tuple(mask.shape)
            if len(mask_shape) < 2 or mask_shape[:2] != (batch, steps):
                raise ValueError(
                    f"{_label(self)}: argument 'mask' must have shape (batch, timesteps, ...) "
                    f"= ({batch}, {steps}, ...) to match the input of shape {shape}; got a "
                    f"mask of shape {mask_shape}"
                )
            if getattr(self.layer, "_call_has_mask", False):
                kwargs["mask"] = jnp.reshape(mask, (batch * steps,) + mask_shape[2:])
        if training is not None and getattr(self.layer, "_call_has_training", False):
            kwargs["training"] = training
        folded = jnp.reshape(inputs, (batch * steps,) + shape[2:])
        outputs = self.layer(folded, **kwargs)
        return jax.tree_util.tree_map(
            lambda y: jnp.reshape(y, (batch, steps) + tuple(y.shape[1:])), outputs
        )
