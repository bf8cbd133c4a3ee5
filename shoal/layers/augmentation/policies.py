"""RandAugment and AugMix: policies that chain other augmentation layers at random.

Which layer runs is drawn as an integer, so a compiled train step keeps drawing new
policies (Keras' AugMix picks its layers with Python's `random` instead); the chosen one
runs through `jax.lax.switch` when traced.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from shoal.layers.augmentation.base import arg_error, is_number, one_of
from shoal.layers.augmentation.base_more import (
    DataAugmentation,
    keras_factor,
    value_pair,
)
from shoal.layers.augmentation.color import RandomBrightness, RandomContrast
from shoal.layers.augmentation.color_more import RandomColorDegeneration, RandomSharpness
from shoal.layers.augmentation.geometric import RandomRotation, RandomTranslation
from shoal.layers.augmentation.geometric_more import RandomShear
from shoal.layers.augmentation.tone import (
    AutoContrast,
    Equalization,
    RandomPosterization,
    Solarization,
)

_GEOMETRIC = ("random_shear", "random_translation", "random_rotation")
_TONE = ("random_posterization", "solarization", "auto_contrast", "equalization")
_COLOR = ("random_brightness", "random_color_degeneration", "random_contrast", "random_sharpness")


def _positive_int(layer, arg, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise arg_error(layer, arg, "a positive integer", value)
    return int(value)


class _Policy(DataAugmentation):
    """Builds the sub-layers Keras' RandAugment and AugMix use, with its arguments."""

    def _build_layers(self, names, value_range, interpolation):
        factor = self.factor
        common = {"data_format": self.data_format, "dtype": self.dtype_policy}
        shape = {"interpolation": interpolation, **common}
        color = {"value_range": value_range, **common}
        makers = {
            "random_shear": lambda: RandomShear(x_factor=factor, y_factor=factor, **shape),
            "random_translation": lambda: RandomTranslation(factor, factor, **shape),
            "random_rotation": lambda: RandomRotation(factor, **shape),
            "random_brightness": lambda: RandomBrightness(factor, **color),
            "random_color_degeneration": lambda: RandomColorDegeneration(factor, **color),
            "random_contrast": lambda: RandomContrast(factor, **color),
            "random_sharpness": lambda: RandomSharpness(factor, **color),
            "solarization": lambda: Solarization(factor, factor, **color),
            "random_posterization": lambda: RandomPosterization(
                max(1, int(8 * factor[1])), **color
            ),
            "auto_contrast": lambda: AutoContrast(**color),
            "equalization": lambda: Equalization(**color),
        }
        for name in names:
            setattr(self, name, makers[name]())
        self._layer_names = tuple(names)

    def _draw_all(self, data, key):
        """One transformation of every sub-layer, by name."""
        keys = jax.random.split(key, len(self._layer_names))
        return {
            name: getattr(self, name).get_random_transformation(data, training=True, seed=k)
            for name, k in zip(self._layer_names, keys, strict=True)
        }

    def _apply(self, name, images, transformation):
        out = getattr(self, name).transform_images(images, transformation, training=True)
        return out.astype(images.dtype)

    def _apply_one_of(self, index, images, transforms, identity_last=False):
        """The sub-layer number `index` (an integer, maybe traced) applied to `images`;
        with `identity_last`, index len(layers) leaves them unchanged."""
        names = self._layer_names
        if not isinstance(index, jax.core.Tracer):
            index = int(index)
            if index == len(names):
                return images
            return self._apply(names[index], images, transforms[names[index]])
        branches = [(lambda x, n=n: self._apply(n, x, transforms[n])) for n in names]
        if identity_last:
            branches.append(lambda x: x)
        return jax.lax.switch(index, branches, images)


class RandAugment(_Policy):
    """Applies `num_ops` augmentations, each picked at random from 11, while training.

    The candidates (as in Keras): RandomShear, RandomTranslation, RandomRotation,
    RandomBrightness, RandomColorDegeneration, RandomContrast, RandomSharpness,
    RandomPosterization, Solarization, AutoContrast, Equalization, all with strength
    `factor` (a number f in [0, 1]: [0, f]; or a pair). One pick per step applies to the
    whole batch.

    Example:
        >>> RandAugment(value_range=(0, 1), seed=0)(np.random.rand(2, 8, 8, 3)).shape
        (2, 8, 8, 3)
    """

    _AUGMENT_LAYERS = _GEOMETRIC + _COLOR + _TONE  # Keras' order: the picks index it

    def __init__(
        self,
        value_range=(0, 255),
        num_ops=2,
        factor=0.5,
        interpolation="bilinear",
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_pair(self, value_range)
        self.num_ops = _positive_int(self, "num_ops", num_ops)
        self.factor = keras_factor(self, "factor", factor, 0, 1)
        self.interpolation = one_of(self, "interpolation", interpolation, ("nearest", "bilinear"))
        self._build_layers(self._AUGMENT_LAYERS, self.value_range, interpolation)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        pick_key, layers_key = self._keys(seed, 2)
        picks = jax.random.randint(pick_key, (self.num_ops,), 0, len(self._layer_names))
        return {"transforms": self._draw_all(data, layers_key), "layer_idxes": picks}

    def _transform(self, images, transformation):
        picks = transformation["layer_idxes"]
        for i in range(self.num_ops):
            images = self._apply_one_of(picks[i], images, transformation["transforms"])
        return images

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": self.value_range,
            "num_ops": self.num_ops,
            "factor": self.factor,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }


class AugMix(_Policy):
    """Mixes the image with `num_chains` randomly augmented copies of it, while training.

    Each chain applies `chain_depth` steps; each step is one augmentation picked at
    random (or none), with strength `factor` (a number f in [0, 1]: [0, f]; or a pair).
    The chains are averaged with Dirichlet(`alpha`) weights and the result blended with
    the image by a Beta(`alpha`, `alpha`) weight, then clipped to `value_range`.
    `all_ops=False` leaves out the colour layers (brightness, colour degeneration,
    contrast, sharpness). One policy per step applies to the whole batch.

    The transformation is {"chain_mixing_weights", "weight_sample", "chain_transforms"};
    each step of `chain_transforms` is {"layer_index", "transforms"} (every candidate's
    transformation, by name). Keras' form, {"layer_name", "transformation"}, is also read.

    Example:
        >>> AugMix(value_range=(0, 1), seed=0)(np.random.rand(2, 8, 8, 3)).shape
        (2, 8, 8, 3)
    """

    def __init__(
        self,
        value_range=(0, 255),
        num_chains=3,
        chain_depth=3,
        factor=0.3,
        alpha=1.0,
        all_ops=True,
        interpolation="bilinear",
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_pair(self, value_range)
        self.num_chains = _positive_int(self, "num_chains", num_chains)
        self.chain_depth = _positive_int(self, "chain_depth", chain_depth)
        self.factor = keras_factor(self, "factor", factor, 0, 1)
        if not is_number(alpha) or alpha <= 0:
            raise arg_error(self, "alpha", "a positive number", alpha)
        self.alpha = alpha
        if not isinstance(all_ops, bool):
            raise arg_error(self, "all_ops", "True or False", all_ops)
        self.all_ops = all_ops
        self.interpolation = one_of(self, "interpolation", interpolation, ("nearest", "bilinear"))
        names = _GEOMETRIC + _TONE + (_COLOR if all_ops else ())
        self._build_layers(names, self.value_range, interpolation)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        keys = self._keys(seed, 3 + self.num_chains * self.chain_depth)
        gamma = jax.random.gamma(keys[0], self.alpha, (self.num_chains,))
        picks = jax.random.randint(
            keys[2], (self.num_chains, self.chain_depth), 0, len(self._layer_names) + 1
        )
        slots = iter(keys[3:])
        chains = [
            [
                {"layer_index": picks[c, d], "transforms": self._draw_all(data, next(slots))}
                for d in range(self.chain_depth)
            ]
            for c in range(self.num_chains)
        ]
        return {
            "chain_mixing_weights": gamma / jnp.sum(gamma),
            "weight_sample": jax.random.beta(keys[1], self.alpha, self.alpha),
            "chain_transforms": chains,
        }

    def _step(self, images, step):
        if "layer_name" in step:  # Keras' form: the layer is known, None steps are absent
            return self._apply(step["layer_name"], images, step["transformation"])
        return self._apply_one_of(
            step["layer_index"], images, step["transforms"], identity_last=True
        )

    def _transform(self, images, transformation):
        weights = jnp.asarray(transformation["chain_mixing_weights"], images.dtype)
        blend = jnp.asarray(transformation["weight_sample"], images.dtype)
        mixed = jnp.zeros_like(images)
        for c, chain in enumerate(transformation["chain_transforms"]):
            augmented = images
            for step in chain:
                augmented = self._step(augmented, step)
            mixed = mixed + augmented * weights[c]
        images = blend * images + (1 - blend) * mixed
        return jnp.clip(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": self.value_range,
            "num_chains": self.num_chains,
            "chain_depth": self.chain_depth,
            "factor": self.factor,
            "alpha": self.alpha,
            "all_ops": self.all_ops,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }
