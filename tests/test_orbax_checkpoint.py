"""Model.get_state_tree / set_state_tree and callbacks.OrbaxCheckpoint against Keras 3.15
(JAX): the same tree, checkpoints each library reads from the other, restoring weights,
optimizer state and metrics. Sharded checkpoints (4 devices, 2 processes) are restored in
tests/test_distribution.py."""

import logging
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402

logging.getLogger("absl").setLevel(logging.ERROR)  # Orbax's notes on each save

X = np.random.default_rng(0).random((32, 3)).astype("float32")
Y = np.random.default_rng(1).random((32, 2)).astype("float32")


def _model(lib, name="net"):
    inputs = lib.Input((3,))
    h = lib.layers.Dense(4, name="d")(inputs)
    h = lib.layers.BatchNormalization(name="bn")(h)
    model = lib.Model(inputs, lib.layers.Dense(2, name="out")(h), name=name)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def _shapes(tree):
    return jax.tree_util.tree_map(lambda v: tuple(np.shape(v)), tree)


@pytest.fixture(scope="module")
def trained_pair():
    ours, ref = _model(shoal), _model(keras)
    ours.set_weights(ref.get_weights())
    for model in (ours, ref):
        model.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    return ours, ref


def test_state_tree_is_keras_tree(trained_pair):
    ours, ref = trained_pair
    got, want = ours.get_state_tree("numpy_array"), ref.get_state_tree("numpy_array")
    # Optimizer names are made unique per process ("adam", "adam_3", ...).
    for tree in (got, want):
        (slots,) = tree["optimizer_variables"].values()
        tree["optimizer_variables"] = {"adam": slots}
    assert _shapes(got) == _shapes(want)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert isinstance(ours.get_state_tree()["trainable_variables"]["d"]["kernel"], jax.Array)


def test_set_state_tree_round_trip_and_errors(trained_pair):
    source = trained_pair[0]
    target = _model(shoal, "net")
    target.set_state_tree(source.get_state_tree())  # builds the optimizer's slots first
    np.testing.assert_allclose(target.predict(X, verbose=0), source.predict(X, verbose=0))
    assert int(target.optimizer.iterations) == int(source.optimizer.iterations) == 4
    tree = source.get_state_tree()
    with pytest.raises(ValueError, match="`value_format` must be one of"):
        source.get_state_tree("list")
    with pytest.raises(ValueError, match="unknown key\\(s\\) \\['weights'\\]"):
        target.set_state_tree({"weights": {}})
    renamed = {"trainable_variables": {"other": tree["trainable_variables"]}}
    with pytest.raises(ValueError, match="\\['other/d/kernel'.* match no variable"):
        target.set_state_tree(renamed)
    bad = {"trainable_variables": {"d": {"kernel": np.zeros((5, 4))}}}
    before = target.get_weights()
    with pytest.raises(ValueError, match="'d/kernel' holds shape \\(5, 4\\).*\\(3, 4\\)"):
        target.set_state_tree(bad)
    for a, b in zip(target.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)  # nothing assigned


def _fit_with_checkpoint(lib, directory, **kwargs):
    model = _model(lib)
    model.set_weights(_model(keras).get_weights())
    checkpoint = lib.callbacks.OrbaxCheckpoint(directory, **kwargs)
    model.fit(
        X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[checkpoint], validation_data=(X, Y)
    )
    return model


def test_checkpoints_restore_the_whole_state_in_both_libraries(tmp_path):
    ours = _fit_with_checkpoint(shoal, tmp_path / "ours", max_to_keep=1)
    ref = _fit_with_checkpoint(keras, tmp_path / "ref", max_to_keep=1)
    assert sorted(os.listdir(tmp_path / "ours")) == sorted(os.listdir(tmp_path / "ref")) == ["1"]
    for directory, trained in ((tmp_path / "ours", ours), (tmp_path / "ref", ref)):
        restored = shoal.models.load_model(directory)
        np.testing.assert_allclose(
            restored.predict(X, verbose=0), trained.predict(X, verbose=0), rtol=1e-6
        )
        assert int(restored.optimizer.iterations) == 8
        fresh = _model(shoal)
        fresh.load_weights(directory)
        np.testing.assert_allclose(
            fresh.predict(X, verbose=0), trained.predict(X, verbose=0), rtol=1e-6
        )
        np.testing.assert_allclose(
            fresh.optimizer.variables[-1], trained.optimizer.variables[-1], rtol=1e-6
        )
    in_keras = _model(keras)
    in_keras.optimizer.build(in_keras.trainable_variables)
    with warnings.catch_warnings():  # Orbax warns while Keras loads (errors in this suite)
        warnings.simplefilter("ignore")
        in_keras.load_weights(str(tmp_path / "ours"))  # Keras reads ours
    np.testing.assert_allclose(
        in_keras.predict(X, verbose=0), ours.predict(X, verbose=0), rtol=1e-6
    )


def test_batch_frequency_best_only_and_weights_only(tmp_path):
    _fit_with_checkpoint(
        shoal, tmp_path / "steps", save_freq=3, max_to_keep=None, save_on_background=False
    )
    steps = sorted(int(s) for s in os.listdir(tmp_path / "steps"))
    assert steps and steps[-1] <= 8 and all(s >= 3 for s in steps)
    restored = shoal.models.load_model(tmp_path / "steps")  # the latest step
    assert int(restored.optimizer.iterations) == steps[-1]
    one_step = shoal.models.load_model(tmp_path / "steps" / str(steps[0]))  # a step dir
    assert int(one_step.optimizer.iterations) == steps[0]

    _fit_with_checkpoint(
        shoal, tmp_path / "best", monitor="val_loss", save_best_only=True, max_to_keep=None
    )
    assert 1 <= len(os.listdir(tmp_path / "best")) <= 2

    weights_only = _fit_with_checkpoint(shoal, tmp_path / "w", save_weights_only=True)
    with pytest.raises(ValueError, match="holds no model config .*save_weights_only=True"):
        shoal.models.load_model(tmp_path / "w")
    fresh = _model(shoal)
    fresh.load_weights(tmp_path / "w")
    np.testing.assert_allclose(
        fresh.predict(X, verbose=0), weights_only.predict(X, verbose=0), rtol=1e-6
    )
    assert int(fresh.optimizer.iterations) == 0  # weights only: no optimizer state


def test_a_sequential_reloaded_from_a_file_restores_a_fresh_ones_checkpoint(tmp_path):
    """Keras builds a Sequential read from a file outside its name scope: its variable
    paths lack the model's name ("d/kernel", not "seq/d/kernel"), and Keras 3.15 then
    restores none of its weights from the checkpoint. shoal matches both forms."""

    def sequential():
        model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(2, name="d")], name="seq")
        model.compile(optimizer="adam", loss="mse")
        return model

    trained = sequential()
    trained.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    trained.save(tmp_path / "m.keras")
    reloaded = shoal.models.load_model(tmp_path / "m.keras")
    assert reloaded.weights[0].path == "d/kernel" and trained.weights[0].path == "seq/d/kernel"
    reloaded.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[
        shoal.callbacks.OrbaxCheckpoint(tmp_path / "ckpt")
    ])  # fmt: skip
    fresh = sequential()
    fresh.load_weights(tmp_path / "ckpt")
    np.testing.assert_allclose(fresh.predict(X, verbose=0), reloaded.predict(X, verbose=0))
    assert int(fresh.optimizer.iterations) == 8


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="`save_freq` must be 'epoch' or a positive integer"):
        shoal.callbacks.OrbaxCheckpoint(tmp_path, save_freq="batch")
    with pytest.raises(ValueError, match="`max_to_keep` must be a positive integer or None"):
        shoal.callbacks.OrbaxCheckpoint(tmp_path, max_to_keep=0)


def test_objects_named_by_a_per_process_counter_match_in_order():
    """Seed generators (Dropout's) are named "seed_generator", "seed_generator_1", ... by
    a counter of the process: a model built later (or in another process) has other
    numbers. Their states are matched in the order of those numbers."""

    def model(seed):
        return shoal.Sequential(
            [
                shoal.Input((3,)),
                shoal.layers.Dense(4, name="a"),
                shoal.layers.Dropout(0.5, seed=seed),
                shoal.layers.Dense(4, name="b"),
                shoal.layers.Dropout(0.5, seed=seed + 1),
            ],
            name="drop",
        )

    source, target = model(1), model(5)
    state = source.get_state_tree("numpy_array")["non_trainable_variables"]
    names = sorted(k for k in state if k.startswith("seed_generator"))
    targets = [v.path for v in target.non_trainable_variables]
    assert len(names) == 2 and not set(names) & {p.split("/")[0] for p in targets}
    assert not np.array_equal(target.non_trainable_variables[0], source.non_trainable_variables[0])
    target.set_state_tree(source.get_state_tree())
    for a, b in zip(target.non_trainable_variables, source.non_trainable_variables, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(target.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
