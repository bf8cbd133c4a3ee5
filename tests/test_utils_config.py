"""shoal.utils.Config against keras.utils.Config (Keras 3.15)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402


def _exercise(Config):
    log = []
    config = Config(learning_rate=0.1, momentum=0.9)
    config.use_ema = True
    config["seed"] = 123
    log.append((config.seed, config["learning_rate"], config.get("nope", 7), "seed" in config))
    log.append((list(config), sorted(config.keys()), len(config), repr(config)))
    log.append((config.as_dict(), json.loads(config.to_json())))
    config.update(batch=32)
    log.append(config.pop("batch"))
    del config["use_ema"]
    try:
        config.learning_rat  # noqa: B018
    except AttributeError as err:
        log.append(str(err))
    config.freeze()
    log.append(config.frozen)
    for mutate in (
        lambda: setattr(config, "foo", 1),
        lambda: config.__setitem__("foo", 1),
        lambda: config.update(foo=1),
        lambda: config.pop("seed"),
        lambda: config.__delitem__("seed"),
    ):
        try:
            mutate()
        except ValueError as err:
            log.append(str(err))
    config.unfreeze()
    config.foo = "bar"
    copy = config.as_dict()
    copy["x"] = 1
    log.append((config.frozen, config.foo, "x" in config))
    return log


def test_config_behaves_as_keras():
    assert _exercise(shoal.utils.Config) == _exercise(keras.utils.Config)


def test_frozen_property_is_read_only():
    config = shoal.utils.Config()
    with pytest.raises(AttributeError):
        config.frozen = True
    with pytest.raises(AttributeError, match="Unknown attribute: 'missing'"):
        config.missing  # noqa: B018
