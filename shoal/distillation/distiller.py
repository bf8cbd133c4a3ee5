"""`Distiller`: a model that trains `student` on a mix of its supervised loss and
distillation losses against a frozen `teacher` (`keras.distillation.Distiller`)."""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from shoal import tree
from shoal.distillation.distillation_loss import has_graph, resolve_losses
from shoal.models.model import Model

FINAL = "final_output"  # the key of a model's own output among the extracted features


class Distiller(Model):
    """Train `student` with `student_loss_weight * loss(y, student(x)) +
    (1 - student_loss_weight) * sum(weight_i * distillation_loss_i(teacher, student))`.

    The teacher is frozen (`trainable = False`). Logs hold `loss` (the total), the compiled
    metrics on the student's predictions, and `student_loss`, `distillation_loss`,
    `total_loss`. After training, `distiller.student` is the trained model."""

    def __init__(
        self,
        teacher,
        student,
        distillation_losses,
        distillation_loss_weights=None,
        student_loss_weight=0.5,
        name="distiller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _check_models(teacher, student)
        if isinstance(student_loss_weight, bool) or not isinstance(
            student_loss_weight, numbers.Real
        ):
            raise ValueError(
                "Distiller: argument `student_loss_weight` must be a number between 0 and 1; "
                f"got {student_loss_weight!r}."
            )
        if not 0.0 <= student_loss_weight <= 1.0:
            raise ValueError(
                "Distiller: argument `student_loss_weight` must be between 0 and 1; "
                f"got {student_loss_weight!r}."
            )
        if distillation_losses is None:
            raise ValueError(
                "Distiller: argument `distillation_losses` must be a distillation loss "
                "(e.g. LogitsDistillation or FeatureDistillation) or a list of them; got None."
            )
        if not isinstance(distillation_losses, (list, tuple)):
            distillation_losses, distillation_loss_weights = [distillation_losses], [1.0]
        elif distillation_loss_weights is None:
            distillation_loss_weights = [1.0] * len(distillation_losses)
        elif len(distillation_loss_weights) != len(distillation_losses):
            raise ValueError(
                "Distiller: argument `distillation_loss_weights` must have one weight per "
                f"distillation loss ({len(distillation_losses)}); got "
                f"{len(distillation_loss_weights)}."
            )
        for distillation_loss in distillation_losses:
            distillation_loss.validate_model_compatibility(teacher, student)

        self.teacher = teacher
        self.student = student
        self.student_loss_weight = student_loss_weight
        self.distillation_losses = list(distillation_losses)
        self.distillation_loss_weights = list(distillation_loss_weights)
        self._teacher_feature_extractor = _feature_extractor(
            teacher, self._layer_names("teacher_layer_name")
        )
        self._student_feature_extractor = _feature_extractor(
            student, self._layer_names("student_layer_name")
        )
        self.teacher.trainable = False

        from shoal.metrics import Mean

        self.student_loss_tracker = Mean(name="student_loss")
        self.distillation_loss_tracker = Mean(name="distillation_loss")
        self.total_loss_tracker = Mean(name="total_loss")

    def _layer_names(self, attribute) -> list:
        names = [getattr(d, attribute, None) for d in self.distillation_losses]
        return list(dict.fromkeys(n for n in names if n))

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`loss` is the student's supervised loss (required); `metrics` are computed on
        the student's predictions."""
        if loss is None:
            raise ValueError(
                "Distiller.compile(): argument `loss` (the student's supervised loss) is "
                "required; got None."
            )
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(
                f"Distiller.compile(): argument `metrics` must be a list or tuple; got "
                f"{type(metrics).__name__}."
            )
        self._student_loss = resolve_losses(loss, "Distiller.compile()")
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def call(self, inputs, training=None, **kwargs):
        return self.student(inputs, training=training, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        student_loss = 0.0
        if self.student_loss_weight > 0.0 and y is not None:
            parts = tree.flatten(
                tree.map_structure(lambda fn, t, p: fn(t, p), self._student_loss, y, y_pred)
            )
            student_loss = jnp.mean(jnp.sum(jnp.stack([jnp.asarray(p) for p in parts]), 0))
        distillation_loss = 0.0
        if self.student_loss_weight < 1.0:
            teacher_features = self._features(self._teacher_feature_extractor, x, None)
            student_features = self._features(self._student_feature_extractor, x, y_pred)
            for fn, weight in zip(
                self.distillation_losses, self.distillation_loss_weights, strict=True
            ):
                teacher_out = teacher_features[getattr(fn, "teacher_layer_name", None) or FINAL]
                student_out = student_features[getattr(fn, "student_layer_name", None) or FINAL]
                if not getattr(fn, "teacher_layer_name", None):
                    student_out = y_pred  # final outputs: the predictions already made
                fn.validate_outputs(teacher_out, student_out)
                value = fn.compute_loss(teacher_out, student_out)
                if jnp.ndim(value):
                    raise ValueError(
                        f"Distiller: {type(fn).__name__}.compute_loss() must return a "
                        f"scalar; it returned shape {tuple(jnp.shape(value))}."
                    )
                distillation_loss = distillation_loss + weight * value
        w = self.student_loss_weight
        total = w * student_loss + (1.0 - w) * distillation_loss
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total)
        return total

    def _features(self, extractor, x, y_pred) -> dict:
        """{FINAL: output, layer name: output, ...}: the teacher's in inference mode, the
        student's in training mode (its final output is `y_pred` when no layer is read)."""
        if extractor is not None:
            return extractor(x, training=y_pred is not None)
        if y_pred is not None:
            return {FINAL: y_pred}
        return {FINAL: self.teacher(x, training=False)}

    def get_config(self) -> dict:
        from shoal.saving import serialize_keras_object

        return {
            **super().get_config(),
            "teacher": serialize_keras_object(self.teacher),
            "student": serialize_keras_object(self.student),
            "distillation_losses": [serialize_keras_object(d) for d in self.distillation_losses],
            "distillation_loss_weights": self.distillation_loss_weights,
            "student_loss_weight": self.student_loss_weight,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.saving import deserialize_keras_object

        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = deserialize_keras_object(config[key], custom_objects)
        config["distillation_losses"] = [
            deserialize_keras_object(d, custom_objects) for d in config["distillation_losses"]
        ]
        return cls(**config)


def _check_models(teacher, student) -> None:
    for role, model in (("teacher", teacher), ("student", student)):
        if not isinstance(model, Model):
            raise ValueError(
                f"Distiller: argument `{role}` must be a keras Model; got {type(model).__name__}."
            )
    if not (has_graph(teacher) and has_graph(student)):
        return
    for kind in ("inputs", "outputs"):
        pairs = zip(
            tree.flatten(getattr(teacher, kind)), tree.flatten(getattr(student, kind)), strict=False
        )
        for t, s in pairs:
            compatible = len(t.shape) == len(s.shape) and all(
                a is None or b is None or a == b for a, b in zip(t.shape, s.shape, strict=True)
            )
            if not compatible or t.dtype != s.dtype:
                raise ValueError(
                    f"Distiller: the teacher's and the student's {kind} must match in shape "
                    f"and dtype; teacher {tuple(t.shape)} {t.dtype}, student "
                    f"{tuple(s.shape)} {s.dtype}."
                )


def _feature_extractor(model, layer_names):
    """A Functional model from `model`'s inputs to {FINAL: its output, name: layer output}
    for the named layers, or None when none are named."""
    if not layer_names:
        return None
    outputs = {FINAL: model.output}
    outputs.update({name: model.get_layer(name=name).output for name in layer_names})
    return Model(inputs=model.inputs, outputs=outputs, name=f"{model.name}_multi_feature_extractor")
