"""LoRA (low-rank adaptation) for layers with one kernel: Dense, EinsumDense, Conv1D/2D/3D.

`enable_lora(rank)` freezes the kernel and adds two trainable factors, `lora_kernel_a`
(the kernel's leading axes, `rank`) and `lora_kernel_b` (`rank`, its last axis), zero-
initialised on the `b` side so the layer starts unchanged. The layer then computes with
`kernel + (lora_alpha / rank) * a @ b`. As in Keras: `lora_rank=` in the constructor
enables it at build, weights files hold the merged kernel (and the bias) only, and
loading one resets the factors to zero.

A layer using the mixin keeps its kernel Variable in `self._kernel`, names the weight
order `[kernel, bias?]` of its files in `_lora_saved()`, and calls `_init_lora` in its
constructor and `_maybe_enable_lora()` at the end of `build`.
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from shoal import initializers


class LoRAKernel:
    """Mixin: `kernel` (merged when LoRA is on), `enable_lora`, Keras' LoRA file layout."""

    lora_enabled = False
    lora_rank = None
    lora_alpha = None

    def _init_lora(self, lora_rank, lora_alpha) -> None:
        owner = f"{type(self).__name__} '{self.name}'"
        self.lora_rank, self.lora_alpha = lora_arguments(owner, lora_rank, lora_alpha)
        if lora_rank and getattr(self, "kernel_constraint", None) is not None:
            raise ValueError(
                f"{owner}: argument 'lora_rank' must be None when a kernel_constraint is set "
                f"(LoRA cannot constrain a merged kernel); got lora_rank={lora_rank!r}"
            )
        self.lora_enabled = False

    def _maybe_enable_lora(self) -> None:
        if self.lora_rank and not self.lora_enabled:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Freeze the kernel and learn a rank-`rank` update `a @ b` (LoRA)."""
        owner = f"{type(self).__name__} '{self.name}'"
        if not _positive_int(rank):
            raise ValueError(f"{owner}: argument 'rank' must be a positive integer; got {rank!r}")
        if getattr(self, "kernel_constraint", None) is not None:
            raise ValueError(
                f"{owner}: LoRA cannot be enabled on a layer with a kernel_constraint; got "
                f"{self.kernel_constraint!r}"
            )
        if not self.built or self.lora_enabled:
            raise ValueError(
                f"{owner}: enable_lora needs a built layer without LoRA; got "
                f"built={self.built}, lora_enabled={self.lora_enabled}"
            )
        shape = tuple(self._lora_kernel_shape())
        regularizer = getattr(self, "kernel_regularizer", None)
        self.lora_kernel_a = self.add_weight(
            name="lora_kernel_a",
            shape=shape[:-1] + (rank,),
            initializer=initializers.get(a_initializer),
            regularizer=regularizer,
        )
        self.lora_kernel_b = self.add_weight(
            name="lora_kernel_b",
            shape=(rank, shape[-1]),
            initializer=initializers.get(b_initializer),
            regularizer=regularizer,
        )
        if self._kernel.trainable:  # a quantized kernel (see quantization.py) is frozen already
            self._kernel.trainable = False
            kept = [v for v in self._trainable_variables if v is not self._kernel]
            self._trainable_variables = kept
            self._non_trainable_variables.insert(0, self._kernel)
        self.lora_enabled = True
        self.lora_rank = int(rank)
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def _lora_kernel_shape(self):
        """The shape the update `a @ b` adds to (an int4 kernel is stored packed)."""
        return self._kernel.shape

    def _own_weights(self):
        # Keras' order (kernel, bias, lora_kernel_a, lora_kernel_b) with a frozen kernel too.
        own = super()._own_weights()
        if not self.lora_enabled:
            return own
        return [self._kernel] + [v for v in own if v is not self._kernel]

    @property
    def kernel(self):
        """The kernel Variable; with LoRA on, the merged value (as Keras)."""
        if not self.lora_enabled:
            return self._kernel
        return self._merged_kernel()

    def _kernel_value(self):
        """The kernel to compute with: merged with the LoRA update when it is on."""
        return self._merged_kernel() if self.lora_enabled else self._kernel.value

    def _merged_kernel(self):
        merged = self._kernel.value + self._lora_delta()
        return merged.astype(self._kernel.value.dtype)

    def _lora_delta(self):
        """The low-rank update added to the kernel: `(alpha / rank) * A @ B`."""
        delta = jnp.matmul(self.lora_kernel_a.value, self.lora_kernel_b.value)
        return (self.lora_alpha / self.lora_rank) * delta

    def _reset_lora(self) -> None:
        """Zero the LoRA factors (after a load whose kernel holds the update merged)."""
        self.lora_kernel_a.assign(jnp.zeros(self.lora_kernel_a.shape))
        self.lora_kernel_b.assign(jnp.zeros(self.lora_kernel_b.shape))

    def _lora_saved(self) -> list:
        """The variables a weights file holds for this layer, kernel first."""
        return [self._kernel] + [v for v in (getattr(self, "bias", None),) if v is not None]

    def save_own_variables(self, store):
        if not self.lora_enabled:
            return super().save_own_variables(store)
        store["0"] = self._merged_kernel()  # as Keras: the update merged in
        for i, variable in enumerate(self._lora_saved()[1:], start=1):
            store[str(i)] = variable

    def load_own_variables(self, store):
        if not self.lora_enabled:
            return super().load_own_variables(store)
        self._load_variables(store, self._lora_saved())
        self._reset_lora()

    def _lora_config(self) -> dict:
        return (
            {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha} if self.lora_rank else {}
        )


def lora_arguments(owner, lora_rank, lora_alpha) -> tuple:
    """The constructor's `(lora_rank, lora_alpha)`, checked; alpha defaults to the rank."""
    if lora_rank is not None and not _positive_int(lora_rank):
        raise ValueError(
            f"{owner}: argument 'lora_rank' must be None or a positive integer; got {lora_rank!r}"
        )
    if lora_alpha is not None and (
        isinstance(lora_alpha, bool) or not isinstance(lora_alpha, numbers.Real)
    ):
        raise ValueError(
            f"{owner}: argument 'lora_alpha' must be None or a number; got {lora_alpha!r}"
        )
    rank = None if lora_rank is None else int(lora_rank)
    return rank, lora_alpha if lora_alpha is not None else rank


def _positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0
