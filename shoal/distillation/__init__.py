"""`keras.distillation`: knowledge distillation, a student model trained on labels and on a
frozen teacher's outputs or features."""

from shoal.distillation.distillation_loss import (
    DistillationLoss,
    FeatureDistillation,
    LogitsDistillation,
)
from shoal.distillation.distiller import Distiller

__all__ = ["DistillationLoss", "Distiller", "FeatureDistillation", "LogitsDistillation"]
