"""scikit-learn estimators around shoal models: SKLearnClassifier, SKLearnRegressor,
SKLearnTransformer (`keras.wrappers`).

This module imports scikit-learn at import time; `shoal.wrappers` imports it on first use of
a wrapper name, so `import shoal` never needs scikit-learn.
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from shoal.models import Model, clone_model

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def _validate_data(estimator, *args, **kwargs):
    try:  # scikit-learn >= 1.6
        from sklearn.utils.validation import validate_data
    except ImportError:
        return estimator._validate_data(*args, **kwargs)
    return validate_data(estimator, *args, **kwargs)


def _target_type(y):
    target_type = type_of_target(y)
    if target_type == "unknown":
        raise ValueError(f"Unknown label type for data: {y!r}")
    return target_type


class TargetReshaper(TransformerMixin, BaseEstimator):
    """Makes 1-D targets 2-D (for encoders that want columns) and squeezes them back."""

    def fit(self, y):
        self.ndim_ = y.ndim
        return self

    def transform(self, y):
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def inverse_transform(self, y):
        check_is_fitted(self)
        if self.ndim_ == 1 and y.ndim == 2:
            return np.squeeze(y, axis=1)
        return y


class SKLBase(BaseEstimator):
    """The shared scikit-learn estimator around a model.

    Args:
        model: a compiled `Model` (cloned with `shoal.models.clone_model` before each fit,
            unless `warm_start=True`), or a callable `model(X=X, y=y, **model_kwargs)`
            returning a compiled model; `y` is the target as the model sees it (one-hot
            for the classifier, at least 2-D).
        warm_start: keep training the same model across `fit` calls instead of starting
            from a new one. Defaults to False.
        model_kwargs: keyword arguments for `model` when it is a callable.
        fit_kwargs: keyword arguments for `model.fit` (`epochs`, `batch_size`, ...); those
            given to `fit` itself take precedence.

    Attributes:
        model_: the fitted model.
        history_: the `History` returned by `model.fit`.
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def _more_tags(self):  # scikit-learn < 1.6
        return {"non_deterministic": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    def __sklearn_clone__(self):
        # A Model parameter is shared, not deep-copied: fit clones it (unless warm_start).
        return type(self)(**self.get_params(deep=False))

    @property
    def epoch_(self):
        """How many epochs the last `fit` ran (0 before fitting)."""
        history = getattr(self, "history_", None)
        return len(getattr(history, "epoch", ())) if history is not None else 0

    def set_fit_request(self, **kwargs):
        """Requests metadata for `fit` (scikit-learn's metadata routing must be enabled).

        Arguments are `param_name=alias` with alias one of True, False, None or a string.
        """
        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_fit_request: metadata routing is off; enable it with "
                "sklearn.set_config(enable_metadata_routing=True)"
            )
        from sklearn.utils.metadata_routing import MetadataRequest

        self._metadata_request = MetadataRequest(owner=type(self).__name__)
        for param, alias in kwargs.items():
            self._metadata_request.fit.add_request(param=param, alias=alias)
        return self

    def _get_model(self, X, y):
        if self.warm_start and getattr(self, "model_", None) is not None:
            return self.model_
        if isinstance(self.model, Model):
            return self.model if self.warm_start else clone_model(self.model)
        if not callable(self.model):
            raise TypeError(
                f"{type(self).__name__}: argument 'model' must be a compiled Model or a "
                f"callable returning one; got {type(self.model).__name__}"
            )
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def fit(self, X, y, **kwargs):
        """Fits a model (new unless `warm_start`) on `X`, `y`.

        Args:
            X: array-like `(n_samples, n_features)`.
            y: array-like `(n_samples,)` or `(n_samples, n_outputs)`.
            **kwargs: passed to `model.fit`, over `fit_kwargs`.
        """
        X, y = _validate_data(self, X, y)
        y = self._process_target(y, reset=True)
        model = self._get_model(X, y)
        if not isinstance(model, Model):
            raise TypeError(
                f"{type(self).__name__}: argument 'model' must give a Model; "
                f"got {type(model).__name__}"
            )
        if not model.compiled or not model.loss or not model.optimizer:
            raise RuntimeError(
                f"{type(self).__name__}: the model must be compiled with a loss and an "
                f"optimizer; got compiled={model.compiled}, loss={model.loss!r}"
            )
        self.history_ = model.fit(X, y, **{**(self.fit_kwargs or {}), **kwargs})
        self.model_ = model
        return self

    def predict(self, X):
        """The model's predictions for `X`, mapped back to the target's form."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self._reverse_process_target(self.model_.predict(X))

    def _process_target(self, y, reset=False):
        _target_type(y)
        if reset:
            self._target_encoder = TargetReshaper().fit(y)
        return self._target_encoder.transform(y)

    def _reverse_process_target(self, y):
        return self._target_encoder.inverse_transform(y)


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A scikit-learn classifier around a model with one output per class.

    Targets are one-hot encoded for the model (binary targets get two columns), and
    `predict` returns the class of the largest output. See `SKLBase` for the arguments.

    Attributes:
        model_: the fitted model.
        history_: the `History` of its fit.
        classes_: the class labels, sorted.

    Example:
        >>> def build(X, y, hidden=8):
        ...     inputs = shoal.Input((X.shape[1],))
        ...     h = shoal.layers.Dense(hidden, activation="relu")(inputs)
        ...     outputs = shoal.layers.Dense(y.shape[1], activation="softmax")(h)
        ...     model = shoal.Model(inputs, outputs)
        ...     model.compile(loss="categorical_crossentropy", optimizer="adam")
        ...     return model
        >>> clf = SKLearnClassifier(build, model_kwargs={"hidden": 16},
        ...                         fit_kwargs={"epochs": 5, "verbose": 0})
        >>> clf.fit(X, y).predict(X[:3])
    """

    def decision_function(self, X):
        """The model's raw outputs for `X`."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self.model_.predict(X)

    def _process_target(self, y, reset=False):
        target_type = _target_type(y)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"{type(self).__name__}: only binary and multiclass targets are supported; "
                f"got target type {target_type!r}"
            )
        if reset:
            self._target_encoder = make_pipeline(
                TargetReshaper(), OneHotEncoder(sparse_output=False)
            ).fit(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                raise ValueError(
                    # "one class" is what scikit-learn's estimator checks look for.
                    f"{type(self).__name__}: y must hold at least two classes; got one class "
                    f"({self.classes_.tolist()[0]!r})"
                )
        return self._target_encoder.transform(y)

    def _more_tags(self):  # scikit-learn < 1.6
        return {"poor_score": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A scikit-learn regressor around a model. 1-D targets are given to the model as
    `(n, 1)` and predictions are squeezed back. See `SKLBase` for the arguments.

    Attributes:
        model_: the fitted model.
        history_: the `History` of its fit.
    """

    def _more_tags(self):  # scikit-learn < 1.6
        return {"poor_score": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A scikit-learn transformer whose `transform` is the model's `predict` (for
    example, an embedding model as a pipeline step). See `SKLBase` for the arguments.

    Attributes:
        model_: the fitted model.
        history_: the `History` of its fit.
    """

    def transform(self, X):
        """The model's outputs for `X`."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self.model_.predict(X)

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": []}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
