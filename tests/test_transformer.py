"""A small Transformer encoder classifier in the Functional API, trained with fit().

The task needs attention: label = "does the first token agree with the majority of the
other 11?" (tokens 1 and 2). Per-position layers followed by GlobalAveragePooling1D and a
linear head see only sums of per-position features, which cannot express this XOR of the
first token with the rest's majority; the same model with the attention block replaced
by a Dense layer stays at chance (about 0.5), while with MultiHeadAttention it reaches
~0.99 held out in 3-4 epochs. ("Is A before B" would not do: position-weighted sums solve
it without attention.)
"""

import os
import tempfile

import numpy as np

import shoal
from shoal import layers
from shoal.layers.multi_head_attention import MultiHeadAttention
from shoal.layers.position_embedding import PositionEmbedding, SinePositionEncoding

STEPS, VOCAB, DIM = 12, 20, 32
_PUBLIC = {
    "MultiHeadAttention": MultiHeadAttention,
    "PositionEmbedding": PositionEmbedding,
    "SinePositionEncoding": SinePositionEncoding,
}


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 3, size=(n, STEPS)).astype("int32")
    majority = np.where((x[:, 1:] == 1).sum(1) * 2 > STEPS - 1, 1, 2)
    return x, (x[:, 0] == majority).astype("int32")


def encoder_classifier(position_layer):
    inputs = layers.Input((STEPS,), dtype="int32")
    x = layers.Embedding(VOCAB, DIM)(inputs)
    x = layers.Add()([x, position_layer(x)])
    attention = MultiHeadAttention(num_heads=2, key_dim=DIM // 2, name="self_attention")(x, x)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, attention]))
    feed_forward = layers.Dense(2 * DIM, activation="relu")(x)
    feed_forward = layers.Dense(DIM)(feed_forward)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, feed_forward]))
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return shoal.Model(inputs, outputs)


def test_transformer_encoder_learns_a_task_that_needs_attention():
    shoal.utils.set_random_seed(0)
    x_train, y_train = make_data(4000, 1)
    x_test, y_test = make_data(1000, 2)
    model = encoder_classifier(PositionEmbedding(sequence_length=STEPS))
    model.compile(
        optimizer=shoal.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.9, history.history

    # the trained model survives a .keras round trip
    sample = x_test[:8]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "transformer.keras")
        model.save(path)
        loaded = shoal.models.load_model(path)
    np.testing.assert_allclose(loaded(sample), model(sample), rtol=1e-5, atol=1e-6)


def test_transformer_with_sine_position_encoding_builds_and_runs():
    model = encoder_classifier(SinePositionEncoding())
    assert model.output_shape == (None, 2)
    probabilities = np.asarray(model(make_data(4, 0)[0]))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert len(model.get_layer("self_attention").weights) == 8
