"""Where a loop's state and batches live under the active distribution.

A `Placement` turns a `shoal.distribution.Distribution` into `jax.sharding` objects for
one kind of compiled function ("train", "test", "predict"): one sharding per state
variable (optimizer slots follow the variable they shadow), the batch split over the
data axis, everything else replicated. The trainer puts state and batches there and
constrains the step's outputs to the same shardings, so every execution keeps the
layout and XLA inserts the collectives. With several processes (multi-host), arrays are
global: each process transfers only the shards its own devices hold.
"""

from __future__ import annotations

import jax
import numpy as np

from shoal.backend.host_arrays import is_multiprocess


def slot_references(optimizer) -> dict:
    """{optimizer variable: the trainable variable whose shape it shadows}."""
    refs: dict = {}
    while optimizer is not None:
        owned = getattr(optimizer, "_trainable_variables", [])
        for slot, owner in zip(
            getattr(optimizer, "_leaf_slots", []),
            getattr(optimizer, "_leaf_owner", []),
            strict=False,
        ):
            if owner is not None:
                refs[slot] = owned[owner]
        for slot, owner in zip(
            getattr(optimizer, "_custom_variables", []),
            getattr(optimizer, "_custom_owner", []),
            strict=False,
        ):
            if owner is not None:
                refs[slot] = owned[owner]
        for name in ("_averages", "_accumulators"):
            for slot, var in zip(getattr(optimizer, name, None) or [], owned, strict=False):
                refs[slot] = var
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return refs


def put(value, sharding):
    """`value` laid out as `sharding` (a global array when several processes run)."""
    if isinstance(value, jax.Array) and value.sharding == sharding:
        return value
    if not is_multiprocess():
        return jax.device_put(value, sharding)
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return jax.device_put(value, sharding)
    host = np.asarray(value)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


class Placement:
    def __init__(self, model, kind, groups, distribution):
        self.distribution = distribution
        self.replicated = distribution.replicated()
        refs = slot_references(model.optimizer) if kind == "train" else {}
        model_groups = 2  # trainable, non-trainable; then optimizer (train), metrics
        self.state_shardings = []
        for index, group in enumerate(groups):
            shardings = []
            for variable in group:
                reference = variable if index < model_groups else refs.get(variable)
                if reference is not None and tuple(reference.shape) == tuple(variable.shape):
                    shardings.append(distribution.variable_sharding(reference))
                else:
                    shardings.append(self.replicated)
            self.state_shardings.append(shardings)

    # -- host -> device -----------------------------------------------------------
    def place_state(self, groups) -> None:
        """Move every state variable to its sharding (once; later calls find them there)."""
        for group, shardings in zip(groups, self.state_shardings, strict=True):
            for variable, sharding in zip(group, shardings, strict=True):
                variable._value = put(variable._value, sharding)

    def put_scalar(self, value):
        return put(np.asarray(value), self.replicated)

    def put_batch(self, batch, fused: bool):
        axis = 1 if fused else 0
        local = is_multiprocess() and not self.distribution.auto_shard_dataset

        def place(leaf):
            if leaf is None:
                return None
            leaf = np.asarray(leaf)
            if local:  # each process holds its own rows of the global batch
                shape = list(leaf.shape)
                shape[axis] *= jax.process_count()
                sharding = self.distribution.data_sharding(shape, axis)
                return jax.make_array_from_process_local_data(sharding, leaf, tuple(shape))
            return put(leaf, self.distribution.data_sharding(leaf.shape, axis))

        return jax.tree_util.tree_map(place, batch, is_leaf=lambda v: v is None)

    # -- inside the compiled step ---------------------------------------------------------
    def constrain_state(self, state):
        return tuple(
            [jax.lax.with_sharding_constraint(v, s) for v, s in zip(values, shardings, strict=True)]
            for values, shardings in zip(state, self.state_shardings, strict=True)
        )

    def constrain_replicated(self, tree):
        return jax.tree_util.tree_map(
            lambda v: jax.lax.with_sharding_constraint(v, self.replicated), tree
        )


def placement_for(model, kind, groups):
    """The model's `Placement` for `kind` under the active distribution (None without one).

    Cached on the model so that repeated fit / evaluate calls reuse compiled functions.
    """
    from shoal.distribution import distribution

    active = distribution()
    if active is None:
        return None
    cache = model.__dict__.setdefault("_placements", {})
    key = (kind, id(active), tuple(len(g) for g in groups))
    if key not in cache:
        cache[key] = Placement(model, kind, groups, active)
    return cache[key]
