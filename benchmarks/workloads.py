"""The benchmark workloads, written once against the Keras API of any library module
(`shoal`, or `keras` on its JAX or TensorFlow backend)."""

from __future__ import annotations


def mlp(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((784,)),
            L.Dense(512, activation="relu"),
            L.Dense(512, activation="relu"),
            L.Dense(10, activation="softmax"),
        ]
    )


def convnet(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((28, 28, 1)),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dropout(0.5),
            L.Dense(10, activation="softmax"),
        ]
    )


def lstm_text(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((80,), dtype="int32"),
            L.Embedding(20000, 128),
            L.LSTM(64),
            L.Dense(1, activation="sigmoid"),
        ]
    )


def transformer(lib):
    """One Transformer encoder block (d=128, 4 heads, FFN 512) over 128 tokens."""
    L = lib.layers
    tokens = lib.Input((128,), dtype="int32")
    x = L.Embedding(1000, 128)(tokens)
    attn = L.MultiHeadAttention(num_heads=4, key_dim=32)(x, x)
    x = L.LayerNormalization()(L.Add()([x, attn]))
    ffn = L.Dense(128)(L.Dense(512, activation="relu")(x))
    x = L.LayerNormalization()(L.Add()([x, ffn]))
    outputs = L.Dense(10, activation="softmax")(L.GlobalAveragePooling1D()(x))
    return lib.Model(tokens, outputs)


WORKLOADS = {
    # name: (model builder, input shape, batch size, samples, vocabulary (int inputs), classes)
    "mlp128": (mlp, (784,), 128, 12800, None, 10),
    "mlp32": (mlp, (784,), 32, 6400, None, 10),
    "convnet": (convnet, (28, 28, 1), 128, 6400, None, 10),
    "lstm": (lstm_text, (80,), 64, 3200, 20000, 2),
    "transformer": (transformer, (128,), 64, 3200, 1000, 10),
}
