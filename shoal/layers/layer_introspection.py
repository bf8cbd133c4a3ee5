"""Read-only facts Keras 3 layers expose about themselves: the metrics they hold, the dtype
their inputs are cast to, their call's parameter names, whether they can be jitted."""

from __future__ import annotations

import inspect


class LayerIntrospection:
    """Mixed into `Layer` (`Model` lists its own metrics first, see the trainer)."""

    # Keras layers whose call cannot be traced by jax.jit set this to False.
    supports_jit = True

    @property
    def metrics(self) -> list:
        """The Metric objects this layer and its sub-layers hold as attributes, as Keras
        lists them (the layer's own first, then each sub-layer's)."""
        from shoal.metrics.base import Metric

        found, seen = [], set()

        def visit(layer, visited):
            if id(layer) in visited:
                return
            visited.add(id(layer))
            for value in vars(layer).values():
                if isinstance(value, Metric) and id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
            for sub in getattr(layer, "_layers", []):
                visit(sub, visited)

        visit(self, set())
        return found

    @property
    def metrics_variables(self) -> list:
        return [v for metric in self.metrics for v in metric.variables]

    @property
    def input_dtype(self) -> str:
        """The dtype floating inputs are cast to before `call` (the compute dtype)."""
        return self.compute_dtype

    @property
    def call_signature_parameters(self) -> list:
        """The names of `call`'s parameters, in order."""
        return list(inspect.signature(self.call).parameters)
