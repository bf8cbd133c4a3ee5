"""model.summary(): the same table as Keras 3 (rows, shapes, params, totals)."""

from __future__ import annotations

import re

import pytest

import shoal

keras = pytest.importorskip("keras")


def _mnist_convnet(lib, named=False):
    L = lib.layers

    def n(name):
        return {"name": name} if named else {}

    return lib.Sequential(
        [
            lib.Input((28, 28, 1)),
            L.Conv2D(32, 3, activation="relu", **n("conv_a")),
            L.MaxPooling2D(2, **n("pool_a")),
            L.Conv2D(64, 3, activation="relu", **n("conv_b")),
            L.MaxPooling2D(2, **n("pool_b")),
            L.Flatten(**n("flatten")),
            L.Dropout(0.5, **n("dropout")),
            L.Dense(10, activation="softmax", **n("dense")),
        ],
        **({"name": "mnist"} if named else {}),
    )


def _multi_input(lib):
    L = lib.layers
    a = lib.Input((4,), name="a")
    b = lib.Input((3,), name="b")
    x = L.Dense(8, activation="relu", name="hidden")(a)
    z = L.Concatenate(name="cat")([x, b])
    return lib.Model([a, b], [L.Dense(1, name="o1")(z), L.Dense(2, name="o2")(z)], name="multi")


def _nested(lib):
    L = lib.layers
    inner = lib.Sequential([lib.Input((4,)), L.Dense(3, name="in_d")], name="inner")
    a = lib.Input((4,), name="x")
    shared = L.Dense(4, name="shared")
    h = shared(shared(a))
    out = L.Dense(2, name="out", trainable=False)(inner(h))
    return lib.Model(a, out, name="nested")


def _text(model, **kwargs):
    captured = []
    model.summary(print_fn=captured.append, **kwargs)
    assert len(captured) == 1
    return captured[0]


_CELL_SPLIT = re.compile(r"[│┃]")


def _rows(text):
    """Table rows as lists of cell strings (wrapped cells re-joined)."""
    rows, current = [], None
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in _CELL_SPLIT.split(line)[1:-1]]
            if current is None:
                current = cells
            else:
                current = [f"{a} {b}".strip() for a, b in zip(current, cells, strict=True)]
        elif current is not None:
            rows.append(current)
            current = None
    return rows


def _structure(text):
    out = []
    for row in _rows(text):
        layer_type = re.search(r"\((\w+)\)\s*$", row[0]).group(1)
        out.append((layer_type, *row[1:]))
    return out


def _totals(text):
    return [line for line in text.splitlines() if "params:" in line]


def _drop_connections(rows):
    return [row[:4] for row in rows]


def test_mnist_convnet_matches_keras():
    ours, theirs = _mnist_convnet(shoal), _mnist_convnet(keras)
    assert ours.count_params() == theirs.count_params() == 34_826
    ours_text, theirs_text = _text(ours), _text(theirs)
    assert _structure(ours_text) == _structure(theirs_text)
    assert (
        _totals(ours_text)
        == _totals(theirs_text)
        == [
            " Total params: 34,826 (136.04 KB)",
            " Trainable params: 34,826 (136.04 KB)",
            " Non-trainable params: 0 (0.00 B)",
        ]
    )
    # With the same names, the printed tables are identical character for character.
    assert _text(_mnist_convnet(shoal, named=True)) == _text(_mnist_convnet(keras, named=True))


def test_multi_input_functional_matches_keras():
    ours, theirs = _multi_input(shoal), _multi_input(keras)
    ours_text, theirs_text = _text(ours), _text(theirs)
    assert "Connected to" in ours_text
    assert _structure(ours_text) == _structure(theirs_text)
    assert _totals(ours_text) == _totals(theirs_text)
    assert ours_text == theirs_text


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"expand_nested": True},
        {"show_trainable": True},
        {"line_length": 70},
        {"layer_range": ["shared", "inner"]},
        {"positions": [0.4, 0.6, 0.8, 1.0]},
    ],
)
def test_nested_shared_model_options_match_keras(kwargs):
    assert _text(_nested(shoal), **kwargs) == _text(_nested(keras), **kwargs)


def test_sequential_chain_and_unbuilt_model_match_keras():
    def chain(lib):
        a = lib.Input((5,), name="inp")
        h = lib.layers.Dense(3, name="h")(a)
        return lib.Model(a, lib.layers.Dense(1, name="y")(h), name="chain")

    assert _text(chain(shoal)) == _text(chain(keras))  # no "Connected to" column

    def unbuilt(lib):
        return lib.Sequential(
            [lib.layers.Dense(3, name="d1"), lib.layers.Dense(1, name="d2")], name="lazy"
        )

    ours, theirs = _text(unbuilt(shoal)), _text(unbuilt(keras))
    assert _structure(ours) == _structure(theirs)
    assert "0 (unbuilt)" in ours


def test_non_trainable_params_and_memory():
    ours, theirs = _nested(shoal), _nested(keras)
    assert _totals(_text(ours)) == _totals(_text(theirs))
    assert any("Non-trainable params: 8 " in line for line in _totals(_text(ours)))


def test_layer_range_errors():
    model = _multi_input(shoal)
    with pytest.raises(ValueError, match="layer_range"):
        model.summary(layer_range=["nope", "o2"], print_fn=lambda s: None)
    with pytest.raises(ValueError, match="layer_range"):
        model.summary(layer_range=["a"], print_fn=lambda s: None)


def test_prints_to_stdout_without_print_fn(capsys):
    _multi_input(shoal).summary()
    out = capsys.readouterr().out
    assert 'Model: "multi"' in out and "Total params: 76" in out


def test_graph_ops_rows_match_keras():
    def build(lib):
        a = lib.Input((4,), name="a")
        h = lib.layers.Dense(3, name="d")(a)
        return lib.Model(a, lib.ops.reshape(h * 2.0 + a[:, :3], (-1, 3, 1)), name="ops")

    # Op names carry per-process counters ("add_3"): compare types, shapes and params.
    ours, theirs = _text(build(shoal)), _text(build(keras))
    assert [row[:3] for row in _structure(ours)] == [row[:3] for row in _structure(theirs)]
    assert [row[0] for row in _structure(ours)] == [
        "InputLayer",
        "Dense",
        "Multiply",
        "GetItem",
        "Add",
        "Reshape",
    ]
    assert _totals(ours) == _totals(theirs)


def test_subclassed_model_built_from_a_shape_shows_an_unknown_batch():
    class Net(shoal.Model):
        def __init__(self):
            super().__init__()
            self.d1 = shoal.layers.Dense(4)
            self.d2 = shoal.layers.Dense(2)

        def call(self, x):
            return self.d2(self.d1(x))

    net = Net()
    net.build((None, 8))
    lines = []
    net.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 4)" in text and "(None, 2)" in text  # Keras shows these too
    assert net.d1._build_shapes == (None, 8)
