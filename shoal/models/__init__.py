"""Models: Sequential, Functional (Model(inputs, outputs)) and subclassed Model."""

from shoal.models.cloning import clone_model
from shoal.models.functional import Functional
from shoal.models.model import Model
from shoal.models.sequential import Sequential
from shoal.saving.api import load_model, model_from_json, save_model

__all__ = [
    "Functional",
    "Model",
    "Sequential",
    "clone_model",
    "load_model",
    "model_from_json",
    "save_model",
]
