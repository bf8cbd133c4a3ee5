"""How a student's outputs are compared with a teacher's: on final logits, softened by a
temperature (`LogitsDistillation`), or on the features of two named layers
(`FeatureDistillation`). `DistillationLoss` is the base for custom ones."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal import losses, tree


def resolve_losses(loss, owner: str):
    """`loss` (an identifier, a loss, None, or a nested structure of them) with identifiers
    resolved as `keras.losses.get` does; at least one entry must be a loss."""

    resolved = tree.map_structure(lambda v: losses.get(v) if isinstance(v, str) else v, loss)
    if all(item is None for item in tree.flatten(resolved)):
        raise ValueError(
            f"{owner}: argument `loss` must hold at least one loss that is not None; got {loss!r}."
        )
    return resolved


def _sum_of(values) -> jnp.ndarray:
    return jnp.sum(jnp.stack([jnp.asarray(v, jnp.float32) for v in tree.flatten(values)]))


class DistillationLoss:
    """Base class: subclasses implement `compute_loss(teacher_outputs, student_outputs)`
    returning a scalar; `validate_outputs` and `validate_model_compatibility` may check
    what they are given."""

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_loss(teacher_outputs, student_outputs)."
        )

    def validate_outputs(self, teacher_outputs, student_outputs) -> None:
        tree.assert_same_structure(teacher_outputs, student_outputs)

    def validate_model_compatibility(self, teacher, student) -> None:
        pass

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class FeatureDistillation(DistillationLoss):
    """`loss` between the outputs of `teacher_layer_name` and `student_layer_name` (the
    models' final outputs where None); per-output losses for multi-output layers, None
    skipping an output."""

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = resolve_losses(loss, "FeatureDistillation")

    def validate_model_compatibility(self, teacher, student) -> None:
        named = {"teacher": self.teacher_layer_name, "student": self.student_layer_name}
        if not any(named.values()):
            return
        pairs = (("teacher", teacher), ("student", student))
        graphless = [role for role, model in pairs if not has_graph(model)]
        if graphless:
            raise ValueError(
                "FeatureDistillation with layer names needs Functional or Sequential models "
                f"(layer outputs to read); the {' and '.join(graphless)} model(s) have no "
                "symbolic inputs. Distill final outputs (no layer names) or use "
                "LogitsDistillation."
            )
        for role, model in pairs:
            if named[role] is not None:
                try:
                    model.get_layer(name=named[role])
                except ValueError as error:
                    raise ValueError(f"In the {role} model: {error}") from None

    def validate_outputs(self, teacher_outputs, student_outputs) -> None:
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except (ValueError, TypeError) as error:
            raise ValueError(
                "FeatureDistillation: argument `loss` must have the structure of the "
                f"features it compares; loss {self.loss!r}, features' structure "
                f"{tree.map_structure(lambda _: '*', teacher_outputs)!r} ({error})."
            ) from None

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        def one(loss_fn, teacher, student):
            return 0.0 if loss_fn is None else jnp.mean(loss_fn(teacher, student))

        return _sum_of(tree.map_structure(one, self.loss, teacher_outputs, student_outputs))

    def get_config(self) -> dict:
        return {
            "loss": losses.serialize(self.loss),
            "teacher_layer_name": self.teacher_layer_name,
            "student_layer_name": self.student_layer_name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "loss": losses.deserialize(config["loss"])})


class LogitsDistillation(DistillationLoss):
    """`loss` between teacher and student logits divided by `temperature`. A
    `KLDivergence` instance compares their softmax probabilities, scaled by
    temperature**2 (Hinton et al.); a loss given by name or as another function compares
    the scaled logits themselves, as Keras does."""

    def __init__(self, temperature=3.0, loss="kl_divergence"):
        self.loss = resolve_losses(loss, "LogitsDistillation")
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
            raise ValueError(
                "LogitsDistillation: argument `temperature` must be a positive number; "
                f"got {temperature!r}."
            )
        if temperature <= 0:
            raise ValueError(
                f"LogitsDistillation: argument `temperature` must be positive; got {temperature!r}."
            )
        self.temperature = temperature

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        t = self.temperature

        def one(loss_fn, teacher, student):
            if loss_fn is None:
                return 0.0
            teacher, student = teacher / t, student / t
            if isinstance(loss_fn, losses.KLDivergence):
                soft = loss_fn(jax.nn.softmax(teacher), jax.nn.softmax(student))
                return jnp.mean(soft) * t**2
            return jnp.mean(loss_fn(teacher, student))

        return _sum_of(tree.map_structure(one, self.loss, teacher_outputs, student_outputs))

    def get_config(self) -> dict:
        from shoal.saving import serialize_keras_object

        return {"temperature": self.temperature, "loss": serialize_keras_object(self.loss)}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "loss": losses.deserialize(config["loss"])})


def has_graph(model) -> bool:
    """Whether `model` has symbolic inputs (Functional or built Sequential)."""
    return getattr(model, "inputs", None) is not None
