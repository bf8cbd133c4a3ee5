"""`Discretization`: buckets continuous values by bin boundaries, given or learned by `adapt`.

Bucketing follows Keras (TensorFlow's `Bucketize`, NumPy's `digitize` with right=False): a
value `x` falls in bin `i` when `boundaries[i-1] <= x < boundaries[i]`, i.e. the number of
boundaries `<= x` (`searchsorted(..., side="right")`). Values and boundaries are compared in
float32, as in Keras. The bucketing is jax.numpy, so the layer runs inside compiled models.

`adapt` learns `num_bins - 1` boundaries with the same approximate-quantile summary as
Keras (`summarize` / `merge_summaries` / `compress_summary` below, NumPy on the host), so the
learned boundaries equal Keras' bit for bit, for arrays and for iterables of batches alike.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer

ENCODED_MODES = ("one_hot", "multi_hot", "count")


def check_choice(owner, name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"{owner}: argument '{name}' must be one of {list(allowed)}; got {value!r}"
        )
    return value


def encode_bins(indices, output_mode, depth, dtype, xp=jnp):
    """Keras' categorical encoding of bin `indices` in `[0, depth)`.

    'one_hot' encodes every element (a trailing axis of size 1, on inputs of rank > 1, is
    replaced by the encoding); 'multi_hot' and 'count' reduce axis 1 (axis 0 of a 1-D
    input; a scalar is one sample), as Keras does for every rank."""
    indices = xp.asarray(indices)
    if output_mode == "int":
        return indices.astype(dtype)
    if indices.ndim == 0:
        indices = indices[None]
    if output_mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = indices[..., 0]
        return (indices[..., None] == xp.arange(depth)).astype(dtype)
    hits = indices[..., None] == xp.arange(depth)
    axis = 1 if indices.ndim > 1 else 0
    if output_mode == "multi_hot":
        return hits.any(axis=axis).astype(dtype)
    return hits.sum(axis=axis).astype(dtype)


def encoded_shape(input_shape, output_mode, depth):
    """The output shape of `encode_bins` for an input of `input_shape`."""
    input_shape = tuple(input_shape)
    if output_mode == "int":
        return input_shape
    if output_mode == "one_hot":
        if len(input_shape) > 1 and input_shape[-1] == 1:
            input_shape = input_shape[:-1]
        return (input_shape or (1,)) + (depth,)  # a scalar is one sample
    if len(input_shape) <= 1:
        return (depth,)
    return (input_shape[0],) + input_shape[2:] + (depth,)


# -- Keras' quantile summary: a 2 x K float32 array of (values, weights) --------------------
def summarize(values, epsilon):
    """Every `len(values) * epsilon`-th sorted value (at least every value), each weighted by
    that stride."""
    values = np.sort(np.reshape(values, [-1]))
    step = max(values.size / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1) :: int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def merge_summaries(first, second, epsilon):
    merged = np.concatenate((first, second), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return compress_summary(merged, epsilon)


def compress_summary(summary, epsilon):
    """Resamples a summary at the cumulative-weight fractions epsilon, 2 * epsilon, ..., 1
    (linear interpolation), once it holds at least 1 / epsilon entries."""
    if summary.shape[1] * epsilon < 1:
        return summary
    fractions = epsilon + np.arange(0.0, 1.0, epsilon)
    cumulative = summary[1].cumsum()
    new_values = np.interp(fractions, cumulative / cumulative[-1], summary[0])
    new_cumulative = np.interp(fractions, cumulative / cumulative[-1], cumulative)
    new_weights = new_cumulative - np.concatenate((np.array([0]), new_cumulative[:-1]))
    return np.stack((new_values, new_weights)).astype("float32")


def bin_boundaries_from_summary(summary, num_bins):
    return compress_summary(summary, 1.0 / num_bins)[0, :-1]


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Discretization(Layer):
    """Buckets values into bins: `bin_boundaries=[b0, ..., bn-1]` gives `n + 1` bins, bin
    `i` holding `b[i-1] <= x < b[i]`; or `num_bins` boundaries learned by `adapt` at
    approximate quantiles (relative error about `epsilon`). `output_mode` 'int' gives bin
    indices (int32); 'one_hot', 'multi_hot' and 'count' encode them (float32).

    Example:
        >>> Discretization(bin_boundaries=[0.0, 1.0, 2.0])(np.array([[-1.5, 1.0, 2.5]])).tolist()
        [[0, 2, 3]]
    """

    def __init__(
        self,
        bin_boundaries=None,
        num_bins=None,
        epsilon=0.01,
        output_mode="int",
        sparse=False,
        dtype=None,
        name=None,
        **kwargs,
    ):
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = f"Discretization '{self.name}'"
        self._owner = owner
        check_choice(owner, "output_mode", output_mode, ("int",) + ENCODED_MODES)
        if sparse:
            raise ValueError(
                f"{owner}: argument 'sparse' must be False (sparse outputs need the TensorFlow "
                f"backend in Keras as well); got {sparse!r}"
            )
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                f"{owner}: arguments 'num_bins' and 'bin_boundaries' are exclusive, set only "
                f"one; got num_bins={num_bins!r} and bin_boundaries={bin_boundaries!r}"
            )
        if num_bins is None and bin_boundaries is None:
            raise ValueError(
                f"{owner}: expected one of the arguments 'bin_boundaries' (a sorted list of "
                "numbers) or 'num_bins' (then call adapt()); got neither"
            )
        if num_bins is not None and (
            not isinstance(num_bins, numbers.Integral) or isinstance(num_bins, bool) or num_bins < 1
        ):
            raise ValueError(
                f"{owner}: argument 'num_bins' must be an integer >= 1; got {num_bins!r}"
            )
        if not _is_real(epsilon) or not 0 < epsilon <= 1:
            raise ValueError(
                f"{owner}: argument 'epsilon' must be a number in (0, 1]; got {epsilon!r}"
            )
        self.bin_boundaries = None
        if bin_boundaries is not None:
            self.bin_boundaries = self._check_boundaries(bin_boundaries)
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = False
        self.summary = None if self.bin_boundaries else np.array([[], []], dtype="float32")

    def _check_boundaries(self, bin_boundaries):
        if isinstance(bin_boundaries, (np.ndarray, jax.Array)):
            bin_boundaries = np.asarray(bin_boundaries).tolist()
        values = list(bin_boundaries) if isinstance(bin_boundaries, (list, tuple)) else None
        if values is None or not all(_is_real(v) for v in values):
            raise ValueError(
                f"{self._owner}: argument 'bin_boundaries' must be a list of numbers; "
                f"got {bin_boundaries!r}"
            )
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        if any(values[i + 1] < values[i] for i in range(len(values) - 1)):
            raise ValueError(
                f"{self._owner}: argument 'bin_boundaries' must be sorted in increasing order; "
                f"got {values!r}"
            )
        return values

    @property
    def output_dtype(self):
        return "int32" if self.output_mode == "int" else self.compute_dtype

    # -- adapt -----------------------------------------------------------------------------
    def adapt(self, data, steps=None) -> None:
        """Learns `num_bins - 1` boundaries from `data`: an array, or an iterable of batches
        (a list, a generator, a dataset), of which `steps` batches are read when given."""
        if self.num_bins is None:
            raise ValueError(
                f"{self._owner}: adapt() learns boundaries for 'num_bins'; this layer was "
                f"given bin_boundaries={self.bin_boundaries!r} instead"
            )
        self.reset_state()
        # As in Keras, any iterable other than an array is a sequence of batches (a list
        # of rows included), and each batch is summarized then merged.
        if hasattr(data, "__iter__") and not isinstance(data, (np.ndarray, jax.Array)):
            for step, batch in enumerate(data):
                if steps is not None and step >= steps:
                    break
                self.update_state(batch)
        else:
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data) -> None:
        data = np.array(data).astype("float32")
        self.summary = merge_summaries(summarize(data, self.epsilon), self.summary, self.epsilon)

    def finalize_state(self) -> None:
        if self.num_bins is not None:
            self.bin_boundaries = bin_boundaries_from_summary(self.summary, self.num_bins).tolist()

    def reset_state(self) -> None:
        if self.num_bins is not None:
            self.summary = np.array([[], []], dtype="float32")

    # -- calling ---------------------------------------------------------------------------
    def _depth(self) -> int:
        if self.bin_boundaries is not None:
            return len(self.bin_boundaries) + 1
        return self.num_bins

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(
                f"{self._owner}: pass 'bin_boundaries' or call adapt() before calling the layer"
            )
        boundaries = jnp.asarray(np.asarray(self.bin_boundaries, dtype=np.float32).reshape(-1))
        values = jnp.asarray(inputs).astype("float32")
        indices = jnp.searchsorted(boundaries, values, side="right").astype("int32")
        return encode_bins(indices, self.output_mode, self._depth(), self.output_dtype)

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self._depth())

    def compute_output_spec(self, inputs):
        return KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.output_dtype)

    def get_config(self):
        # Keras' keys exactly (no 'trainable'); after adapt both boundaries and num_bins.
        return {
            "bin_boundaries": self.bin_boundaries,
            "num_bins": self.num_bins,
            "epsilon": self.epsilon,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "name": self.name,
            "dtype": super().get_config()["dtype"],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")
            layer = super().from_config(config)
            layer.bin_boundaries = layer._check_boundaries(boundaries)
            return layer
        return super().from_config(config)
