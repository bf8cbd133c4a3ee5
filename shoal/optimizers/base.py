"""`Optimizer`: Keras 3's optimizer surface over an optax update rule.

An optimizer holds its whole state in `Variable`s: the step counter
`iterations`, the learning rate (unless it is a schedule), and one slot
Variable per leaf of the optax state (momenta, second moments...), plus
Keras' EMA copies and gradient accumulators when asked for. `apply` reads
those Variables, runs the optax transformation, and assigns the results, so
the same code runs eagerly and, through `stateless_apply` inside a
`StatelessScope`, as a pure function of explicit values under `jax.jit`.

Subclasses provide the rule (`_transform`, an optax transformation of the
Keras formula), Keras' slot order (`_slot_groups`), the names optax gives its
state fields (`_slot_names`), and their hyper-parameter names (`_config_keys`).
A user's subclass may instead be written the Keras way, with `build` adding
Variables and `update_step` assigning them (see `shoal.optimizers.custom_rules`).

Example:
    >>> import jax.numpy as jnp
    >>> from shoal.backend.variables import Variable
    >>> from shoal.optimizers import SGD
    >>> w = Variable([1.0, 2.0])
    >>> opt = SGD(learning_rate=0.5)
    >>> _ = opt.apply_gradients([(jnp.ones(2), w)])
    >>> w.numpy().tolist()
    [0.5, 1.5]
"""

from __future__ import annotations

import inspect
import numbers
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

from shoal.backend import config, naming
from shoal.backend.scope import StatelessScope
from shoal.backend.tensors import convert_to_tensor
from shoal.backend.variables import Variable
from shoal.optimizers import schedules, transforms
from shoal.optimizers.custom_rules import CustomRules
from shoal.optimizers.initial_state import initial_state


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class Optimizer(CustomRules):
    _slot_groups: tuple[tuple[str, ...], ...] = ()  # Keras' creation order of slot variables
    _slot_names: dict[str, str] = {}  # optax state field -> Keras slot name
    _config_keys: tuple[str, ...] = ()  # hyper-parameters added to get_config()

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        self.name = name if name is not None else naming.auto_name(type(self).__name__)
        self._reject_unknown(kwargs)
        for arg, value in (
            ("weight_decay", weight_decay),
            ("loss_scale_factor", loss_scale_factor),
        ):
            ok = value is None or (_is_number(value) and value >= 0)
            self._check(arg, value, ok, "a non-negative float or None")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        for arg, value in clips.items():
            ok = value is None or (_is_number(value) and value > 0)
            self._check(arg, value, ok, "a positive float or None")
        given = [arg for arg, value in clips.items() if value is not None]
        if len(given) > 1:
            expected = f"None when `{given[0]}` is set (one clipping option at most)"
            self._fail(given[1], expected, clips[given[1]])
        self._check_unit("ema_momentum", ema_momentum)
        self._check_optional_int("ema_overwrite_frequency", ema_overwrite_frequency, 1)
        self._check_optional_int("gradient_accumulation_steps", gradient_accumulation_steps, 2)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps

        self.built = False
        self._trainable_variables: list[Variable] = []
        self._updated_variables: list[Variable] = []
        self._updated_positions: list[int] = []
        self._index: dict[Variable, int] = {}
        self._averages: list[Variable] = []
        self._accumulators: list[Variable] = []
        self._slots: list[Variable] = []  # in Keras order
        self._leaf_slots: list[Variable] = []  # in optax-state leaf order
        self._leaf_owner: list[int | None] = []  # trainable index of each leaf, None if shared
        self._custom_variables: list[Variable] = []  # added by a Keras-style subclass's build
        self._custom_owner: list[int | None] = []
        self._exclude_from_wd: set[Variable] = set()
        self._exclude_from_wd_pattern = None
        self._iterations = self._new_variable(0, "iteration", "int32")
        self._lr_variable: Variable | None = None
        self._learning_rate = None
        self.learning_rate = learning_rate

    # -- argument checks ------------------------------------------------------
    def _fail(self, arg, expected, got):
        raise ValueError(
            f"{type(self).__name__} '{self.name}': argument '{arg}' must be {expected}, got {got!r}"
        )

    def _check(self, arg, value, ok, expected):
        if not ok:
            self._fail(arg, expected, value)

    def _reject_unknown(self, kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and is ignored.", stacklevel=3)
        if kwargs:
            valid = {
                arg
                for init in (type(self).__init__, Optimizer.__init__)
                for arg in inspect.signature(init).parameters
            } - {"self", "kwargs"}
            raise ValueError(
                f"{type(self).__name__} '{self.name}': unknown argument(s) {sorted(kwargs)}; "
                f"expected some of {sorted(valid)}"
            )

    def _check_optional_int(self, arg, value, minimum):
        ok = value is None or (isinstance(value, int) and value >= minimum)
        self._check(arg, value, ok, f"an integer >= {minimum} or None")

    def _check_unit(self, arg, value):
        self._check(arg, value, _is_number(value) and 0 <= value <= 1, "a float in [0, 1]")

    def _check_non_negative(self, arg, value):
        self._check(arg, value, _is_number(value) and value >= 0, "a non-negative float")

    # -- variables ------------------------------------------------------------
    def _new_variable(self, value, name, dtype=None):
        # Optimizer state is never read in a layer's compute dtype (e.g. a float16 loss scale).
        var = Variable(value, dtype=dtype, trainable=False, name=name, autocast=False)
        var.path = f"{self.name}/{name}"
        return var

    def _slot_variable_name(self, reference: Variable, slot: str) -> str:
        return f"{reference.path.replace('/', '_')}_{slot}"

    @property
    def iterations(self):
        """Completed updates: the step counter, divided by the accumulation steps if any."""
        if self.gradient_accumulation_steps:
            return self._iterations.value // self.gradient_accumulation_steps
        return self._iterations

    def _count(self):
        """`iterations` as an array (Keras' `local_step - 1` in the update rules)."""
        count = self.iterations
        return count.value if isinstance(count, Variable) else count

    @property
    def variables(self) -> list[Variable]:
        """All optimizer state, in Keras' order (what `stateless_apply` takes and returns)."""
        lr = [self._lr_variable] if self._lr_variable is not None else []
        own = [*self._averages, *self._accumulators, *self._slots, *self._custom_variables]
        return [self._iterations, *lr, *own]

    def build(self, variables) -> None:
        """Create the slot Variables for the trainable `variables` (once; later calls do
        nothing)."""
        if self.built:
            return
        variables = list(variables)
        self._trainable_variables = variables
        self._index = {v: i for i, v in enumerate(variables)}
        # Variables written with their "gradient" (float8 scales) get no slots or averages,
        # as Keras; the rule sees only the others.
        self._updated_positions = [
            i for i, v in enumerate(variables) if not getattr(v, "overwrite_with_gradient", False)
        ]
        self._updated_variables = [variables[i] for i in self._updated_positions]

        def copies(slot, variables=variables):
            return [
                self._new_variable(
                    np.zeros(v.shape, jnp.dtype(v.dtype)),
                    self._slot_variable_name(v, slot),
                    v.dtype,
                )
                for v in variables
            ]

        if self.use_ema:
            self._averages = copies("average", self._updated_variables)
        if self.gradient_accumulation_steps:
            self._accumulators = copies("gradient_accumulator")
        if self._uses_custom_rule:
            self._tx = self._clipping()  # the subclass's build adds its own Variables
            self.built = True
            return
        self._tx = optax.chain(self._clipping(), self._transform())
        # The rules' initial state depends on shapes and dtypes only, never on values.
        state = initial_state(self._tx, self._updated_variables)
        leaves, self._treedef = jax.tree_util.tree_flatten_with_path(state)
        names = [name for group in self._slot_groups for name in group]
        order = []
        for path, value in leaves:
            field = [k.name for k in path if isinstance(k, jax.tree_util.GetAttrKey)][-1]
            slot = self._slot_names.get(field, field)
            owner = path[-1].idx if isinstance(path[-1], jax.tree_util.SequenceKey) else None
            owner = None if owner is None else self._updated_positions[owner]
            if owner is None:
                var = self._new_variable(value, slot, value.dtype)
            else:
                name = self._slot_variable_name(variables[owner], slot)
                var = self._new_variable(value, name, value.dtype)
            self._leaf_slots.append(var)
            self._leaf_owner.append(owner)
            # Keras creates its slots group by group, interleaving a group's names per variable.
            last = len(self._slot_groups)
            group = next((i for i, g in enumerate(self._slot_groups) if slot in g), last)
            within = names.index(slot) if slot in names else 0
            order.append(((owner is None, group, owner or 0, within), len(order)))
        self._slots = [self._leaf_slots[i] for _, i in sorted(order)]
        self.built = True

    def _transform(self) -> optax.GradientTransformation:
        raise NotImplementedError(
            f"{type(self).__name__} must implement update_step(gradient, variable, "
            "learning_rate) (Keras' way), or _transform() (an optax rule)"
        )

    def _clipping(self) -> optax.GradientTransformation:
        if self.clipnorm:
            return transforms.clip_by_norm(self.clipnorm)
        if self.global_clipnorm:
            return optax.clip_by_global_norm(self.global_clipnorm)
        if self.clipvalue:
            return optax.clip(self.clipvalue)
        return optax.identity()

    # -- learning rate --------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning-rate Variable, or the schedule's value at the current step."""
        if self._lr_variable is not None:
            return self._lr_variable
        return self._current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, schedules.LearningRateSchedule) or (
            callable(value) and not isinstance(value, Variable)
        ):
            self._learning_rate = value
            self._lr_variable = None
            return
        if isinstance(value, Variable):
            value = float(value.numpy())
        self._check(
            "learning_rate",
            value,
            _is_number(value) and value >= 0,
            "a non-negative float, a LearningRateSchedule or a callable",
        )
        if self._learning_rate is not None and self._lr_variable is None:
            raise TypeError(
                f"{type(self).__name__} '{self.name}': the learning rate is a "
                f"{type(self._learning_rate).__name__}, so it cannot be set to a float; "
                "construct the optimizer with a float learning_rate to make it settable"
            )
        if self._lr_variable is None:
            self._lr_variable = self._new_variable(value, "learning_rate", config.floatx())
        else:
            self._lr_variable.assign(value)
        self._learning_rate = self._lr_variable

    def _current_learning_rate(self):
        if self._lr_variable is not None:
            return self._lr_variable.value
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return self._learning_rate(self._iterations)
        return convert_to_tensor(self._learning_rate())

    # -- weight decay ---------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Skip weight decay for `var_list` and for variables whose name contains any of
        `var_names` (a regular-expression alternation, as Keras). Call before `build`."""
        if self.built:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': exclude_from_weight_decay() must be "
                "called before the optimizer is built"
            )
        self._exclude_from_wd = set(var_list or ())
        self._exclude_from_wd_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, variable: Variable) -> bool:
        if variable in self._exclude_from_wd:
            return False
        pattern = self._exclude_from_wd_pattern
        return pattern is None or pattern.search(variable.name) is None

    def _apply_weight_decay(self, learning_rate, present) -> None:
        if self.weight_decay is None:
            return
        for var, has_grad in zip(self._trainable_variables, present, strict=True):
            if has_grad and self._use_weight_decay(var):
                lr = jnp.asarray(learning_rate).astype(var.dtype)
                wd = jnp.asarray(self.weight_decay, var.dtype)
                var.assign(var.value - var.value * wd * lr)

    # -- applying gradients ---------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Apply `(gradient, variable)` pairs; returns the `iterations` Variable."""
        grads, variables = zip(*grads_and_vars, strict=True)
        self.apply(grads, variables)
        return self._iterations

    def apply(self, grads, trainable_variables=None) -> None:
        """Update `trainable_variables` (default: those the optimizer was built with) from
        `grads`, one per variable (None to leave a variable alone)."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': call build(trainable_variables) or "
                    "pass `trainable_variables` before applying bare gradients"
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            self.build(trainable_variables)
        if len(grads) != len(trainable_variables):
            self._fail(
                "grads",
                f"a list of {len(trainable_variables)} gradients",
                f"{len(grads)} gradients",
            )
        full = [None] * len(self._trainable_variables)
        for grad, var in zip(grads, trainable_variables, strict=True):
            if var not in self._index:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': unknown variable {var.path!r}; an "
                    "optimizer only updates the variables it was built with"
                )
            full[self._index[var]] = grad
        missing = [v.path for g, v in zip(grads, trainable_variables, strict=True) if g is None]
        if len(missing) == len(grads):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': no gradients provided for any variable"
            )
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss.",
                stacklevel=2,
            )
        full = self._overwrite_with_gradients(full)
        present = [g is not None for g in full]
        self._update(full, present)
        for var, has_grad in zip(self._trainable_variables, present, strict=True):
            if has_grad and var.constraint is not None:
                var.assign(var.constraint(var))
        self._iterations.assign(self._iterations.value + 1)

    def _overwrite_with_gradients(self, grads) -> list:
        """Variables flagged `overwrite_with_gradient` (float8 scales and amax histories)
        take their "gradient" as their new value and leave the update; with gradient
        accumulation, the running max, written on update steps (as Keras)."""
        out = list(grads)
        for i, (grad, var) in enumerate(zip(grads, self._trainable_variables, strict=True)):
            if grad is None or not getattr(var, "overwrite_with_gradient", False):
                continue
            grad = convert_to_tensor(grad, var.dtype)
            if self.gradient_accumulation_steps:
                is_update = (self._iterations.value + 1) % self.gradient_accumulation_steps == 0
                acc = self._accumulators[i]
                peak = jnp.maximum(grad, acc.value)
                acc.assign(jnp.where(is_update, jnp.zeros_like(peak), peak))
                var.assign(jnp.where(is_update, peak, var.value))
            else:
                var.assign(grad)
            out[i] = None
        return out

    def _update(self, grads, present) -> None:
        variables = self._trainable_variables
        grads = [
            convert_to_tensor(g, v.dtype) if ok else jnp.zeros(v.shape, v.dtype)
            for g, v, ok in zip(grads, variables, present, strict=True)
        ]
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        if self.gradient_accumulation_steps:
            self._accumulated_update(grads, present)
        else:
            self._update_step(grads, present)
        if self.use_ema:
            self._update_averages()

    def _accumulated_update(self, grads, present) -> None:
        """Keras' JAX accumulation: every call computes the update, which is kept only on
        every `gradient_accumulation_steps`-th call, from the mean of the accumulated grads."""
        steps = self.gradient_accumulation_steps
        is_update = (self._iterations.value + 1) % steps == 0
        kept = [*self._trainable_variables, *self._leaf_slots, *self._custom_variables]
        before = [v.value for v in kept]
        sums = [g + acc.value for g, acc in zip(grads, self._accumulators, strict=True)]
        self._update_step([s / steps for s in sums], present)
        for var, old in zip(kept, before, strict=True):
            var.assign(jnp.where(is_update, var.value, old))
        for acc, total, ok in zip(self._accumulators, sums, present, strict=True):
            if ok:
                acc.assign(jnp.where(is_update, jnp.zeros_like(total), total))

    def _update_step(self, grads, present) -> None:
        learning_rate = self._current_learning_rate()
        self._apply_weight_decay(learning_rate, present)
        if self._uses_custom_rule:
            self._custom_update_step(grads, present, learning_rate)
            return
        positions = self._updated_positions
        variables = self._updated_variables
        params = [v.value for v in variables]
        state = self._treedef.unflatten([s.value for s in self._leaf_slots])
        count = self._count()
        deltas, state = self._tx.update(
            [grads[i] for i in positions], state, params, learning_rate=learning_rate, count=count
        )
        for var, param, delta, i in zip(variables, params, deltas, positions, strict=True):
            if present[i]:
                var.assign(self._new_value(param, delta))
        for slot, owner, value in zip(
            self._leaf_slots, self._leaf_owner, jax.tree.leaves(state), strict=True
        ):
            if owner is None or present[owner]:
                slot.assign(value)

    def _custom_update_step(self, grads, present, learning_rate) -> None:
        """A Keras-style subclass's rule: clip, then `update_step` per variable with a
        gradient, as Keras' `apply` does."""
        positions = [i for i in self._updated_positions if present[i]]
        params = [self._trainable_variables[i].value for i in positions]
        clipped, _ = self._tx.update([grads[i] for i in positions], self._tx.init(params), params)
        for i, grad in zip(positions, clipped, strict=True):
            self.update_step(grad, self._trainable_variables[i], learning_rate)

    def _new_value(self, param, update):
        """A variable's value after the rule's `update` (optax's convention: a delta)."""
        return param + update

    def _update_averages(self) -> None:
        count = self._count()
        for var, average in zip(self._updated_variables, self._averages, strict=True):
            momentum = (count != 0).astype(var.dtype) * self.ema_momentum
            average.assign(momentum * average.value + (1 - momentum) * var.value)
        if self.ema_overwrite_frequency:
            overwrite = (count + 1) % self.ema_overwrite_frequency == 0
            for var, average in zip(self._updated_variables, self._averages, strict=True):
                var.assign(jnp.where(overwrite, average.value, var.value))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """Pure `apply`: values in, `(new trainable values, new optimizer values)` out, in the
        order of the built trainable list and of `variables`. Jittable."""
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': call build(trainable_variables) "
                "before stateless_apply"
            )
        own = self.variables
        for arg, given, expected in (
            ("optimizer_variables", optimizer_variables, own),
            ("trainable_variables", trainable_variables, self._trainable_variables),
        ):
            if len(given) != len(expected):
                self._fail(arg, f"a list of {len(expected)} arrays", f"{len(given)} arrays")
        mapping = dict(zip(self._trainable_variables, trainable_variables, strict=True))
        mapping.update(zip(own, optimizer_variables, strict=True))
        with StatelessScope(mapping):
            self.apply(grads)
            # Read the results inside the scope: a Variable's value resolves through it.
            new_trainable = [v.value for v in self._trainable_variables]
            new_optimizer = [v.value for v in own]
        return new_trainable, new_optimizer

    def finalize_variable_values(self, var_list) -> None:
        """At the end of training, replace `var_list` by their moving averages (`use_ema`)."""
        if not self.use_ema:
            return
        var_list = [v for v in var_list if not getattr(v, "overwrite_with_gradient", False)]
        if len(var_list) != len(self._averages):
            self._fail(
                "var_list",
                f"a list of {len(self._averages)} variables",
                f"{len(var_list)} variables",
            )
        for var, average in zip(var_list, self._averages, strict=True):
            # A copy: sharing one buffer, the next step's donation would delete the other.
            var.assign(jnp.copy(average.value))

    def scale_loss(self, loss):
        return loss * self.loss_scale_factor if self.loss_scale_factor is not None else loss

    # -- saving ---------------------------------------------------------------
    def save_own_variables(self, store) -> None:
        for i, var in enumerate(self.variables):
            store[str(i)] = var.numpy()

    def load_own_variables(self, store) -> None:
        own = self.variables
        if len(store.keys()) != len(own):
            # As Keras: skip (an unbuilt optimizer has no slots yet) but say so.
            warnings.warn(
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{len(own)} variables whereas the saved optimizer has {len(store.keys())}.",
                stacklevel=2,
            )
            return
        for i, var in enumerate(own):
            var.assign(store[str(i)])

    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        else:
            lr = float(self._current_learning_rate())
        config_ = {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        config_.update({key: getattr(self, key) for key in self._config_keys})
        return config_

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
