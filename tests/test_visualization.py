"""shoal.visualization against keras.visualization (Keras 3.15, JAX).

Keras draws boxes with OpenCV, which is not a test dependency: the box geometry is checked
against OpenCV's pixels recorded below, and against Keras itself where cv2 is installed."""

import os
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402

vis = shoal.visualization

# cv2.rectangle(zeros((16, 16)), (3, 4), (11, 12), 255, thickness) for thickness 1, 2, 3
CV2_RECTANGLES = {
    1: [
        "...#########....",
        "...#.......#....",
    ],
    2: [
        "................",
        "................",
        "................",
        "...#########....",
        "..###########...",
        "..###########...",
        "..###.....###...",
        "..###.....###...",
        "..###.....###...",
        "..###.....###...",
        "..###.....###...",
        "..###########...",
        "..###########...",
        "...#########....",
        "................",
        "................",
    ],
    3: [
        "................",
        "................",
        "...#########....",
        "..###########...",
        ".#############..",
        ".#############..",
        ".#############..",
        ".#####...#####..",
        ".#####...#####..",
        ".#####...#####..",
        ".#############..",
        ".#############..",
        ".#############..",
        "..###########...",
        "...#########....",
        "................",
    ],
}


def _painted(thickness, fmt="xyxy", box=(3, 4, 11, 12)):
    images = np.zeros((1, 16, 16, 3), "uint8")
    boxes = shoal.utils.bounding_boxes.convert_format(
        np.array([[box]], "float32"), "xyxy", fmt, height=16, width=16
    )
    out = vis.draw_bounding_boxes(
        images, {"boxes": boxes, "labels": np.array([[0]])}, fmt, line_thickness=thickness
    )
    return out


@pytest.mark.parametrize("thickness", [1, 2, 3])
@pytest.mark.parametrize("fmt", ["xyxy", "center_yxhw", "rel_xywh"])
def test_box_outline_pixels_equal_opencv(thickness, fmt):
    out = _painted(thickness, fmt)
    rows = ["".join("#" if v else "." for v in row) for row in out[0, ..., 0]]
    expected = CV2_RECTANGLES[thickness]
    if thickness == 1:  # one-pixel outline: the top row, then the sides
        assert rows[4] == expected[0] and rows[12] == expected[0]
        assert rows[5:12] == [expected[1]] * 7
        assert set("".join(rows[:4] + rows[13:])) == {"."}
    else:
        assert rows == expected
    # every painted pixel has the default color in every channel; the inside is untouched
    assert set(map(tuple, out[0][out[0, ..., 0] > 0])) == {(128, 128, 128)}
    assert not out[0, 7:10, 6:9].any()


def test_draw_bounding_boxes_options():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 200, (2, 20, 24, 3)).astype("uint8")
    boxes = np.array([[[2, 2, 10, 10], [5, 5, 15, 15]], [[-4, 3, 30, 18], [0, 0, 1, 1]]])
    labels = np.array([[1, -1], [0, 2]])
    given = images.copy()
    out = vis.draw_bounding_boxes(images, {"boxes": boxes, "labels": labels}, "xyxy",
                                  color=(255, 0, 7), line_thickness=1)  # fmt: skip
    np.testing.assert_array_equal(images, given)  # the input is left alone
    assert out.shape == images.shape and out.dtype == np.uint8
    assert tuple(out[0, 2, 5]) == (255, 0, 7) and tuple(out[0, 6, 6]) == tuple(images[0, 6, 6])
    assert tuple(out[0, 15, 10]) == tuple(images[0, 15, 10])  # label -1: not drawn
    assert tuple(out[1, 18, 10]) == (255, 0, 7)  # a box past the image edge: its inner sides
    # channels first: the same pixels, transposed
    first = vis.draw_bounding_boxes(
        images.transpose(0, 3, 1, 2), {"boxes": boxes, "labels": labels}, "xyxy",
        color=(255, 0, 7), line_thickness=1, data_format="channels_first",
    )  # fmt: skip
    np.testing.assert_array_equal(first.transpose(0, 2, 3, 1), out)
    # floats in [0, 1] are scaled to [0, 255]; one channel takes the first color value
    gray = vis.draw_bounding_boxes(
        np.full((1, 8, 8, 1), 0.5, "float32"),
        {"boxes": np.array([[[1, 1, 6, 6]]]), "labels": np.array([[0]])},
        "xyxy",
        color=(9, 99, 199),
        line_thickness=1,
    )
    assert gray[0, 1, 1, 0] == 9 and gray[0, 3, 3, 0] == 127
    with pytest.raises(ValueError, match="'images'.*4D"):
        vis.draw_bounding_boxes(images[0], {"boxes": boxes, "labels": labels}, "xyxy")
    with pytest.raises(TypeError, match="'bounding_boxes'"):
        vis.draw_bounding_boxes(images, boxes, "xyxy")
    with pytest.raises(ValueError, match="'labels'"):
        vis.draw_bounding_boxes(images, {"boxes": boxes}, "xyxy")


def test_draw_bounding_boxes_writes_class_names():
    pytest.importorskip("PIL")
    images = np.zeros((2, 64, 96, 3), "uint8")
    bbs = {
        "boxes": np.array([[[10, 40, 60, 60]], [[5, 2, 20, 12]]]),
        "labels": np.array([[0], [1]]),
        "confidences": np.array([[0.9], [0.4]]),
    }
    plain = vis.draw_bounding_boxes(images, bbs, "xyxy", color=(0, 255, 0))
    named = vis.draw_bounding_boxes(images, bbs, "xyxy", color=(0, 255, 0),
                                    class_mapping={0: "cat", 1: "dog"})  # fmt: skip
    text = np.any(named != plain, axis=-1)
    # "cat | 0.90" sits on a baseline 8 pixels above box 0 (top at 40), from its left edge
    assert text[0, :33].sum() > 20 and text[0, 33:].sum() == 0 and text[0, :, :10].sum() == 0
    # "dog | 0.40" has no room above box 1 (top at 2): it goes inside, below the top edge
    assert text[1, 13:32].sum() > 20 and text[1, :4].sum() == 0 and text[1, 32:].sum() == 0
    assert set(map(tuple, named[text])) <= {(0, g, 0) for g in range(256)}
    without = vis.draw_bounding_boxes(images, {**bbs, "labels": np.array([[5], [6]])}, "xyxy",
                                      color=(0, 255, 0), class_mapping={0: "cat"})  # fmt: skip
    np.testing.assert_array_equal(without, plain)  # unmapped classes: no text


def test_draw_bounding_boxes_equals_keras_with_opencv():
    """Keras draws with OpenCV (a test dependency, for this reference)."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (2, 30, 40, 3)).astype("uint8")
    boxes = np.array([[[5, 6, 30, 20], [-5, 10, 60, 25]], [[10, 10, 12, 28], [0, 0, 39, 29]]])
    bbs = {"boxes": boxes.astype("float32"), "labels": np.array([[0, 1], [2, -1]])}
    for thickness in (1, 2, 5):
        for imgs in (images, images.astype("float32") / 255.0):
            args = (imgs, bbs, "xyxy")
            kwargs = dict(line_thickness=thickness, color=(255, 0, 10))
            np.testing.assert_array_equal(
                vis.draw_bounding_boxes(*args, **kwargs),
                keras.visualization.draw_bounding_boxes(*args, **kwargs),
            )


MASK_OPTIONS = [
    {},
    {"num_classes": 5},
    {"num_classes": 4, "color_mapping": {0: (1, 2, 3), 1: (200, 0, 0), 2: (0, 9, 0), 3: (7, 7, 9)}},
    {"blend": False},
    {"alpha": 0.35, "ignore_index": 2},
]


@pytest.mark.parametrize("options", MASK_OPTIONS, ids=range(len(MASK_OPTIONS)))
def test_draw_segmentation_masks_equals_keras(options):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 255, (2, 6, 7, 3)).astype("uint8")
    masks = rng.integers(-1, 4, (2, 6, 7, 1)).astype("int32")
    for imgs in (images, images.astype("float32")):
        mine = vis.draw_segmentation_masks(imgs, masks, **options)
        ref = np.asarray(keras.visualization.draw_segmentation_masks(imgs, masks, **options))
        assert isinstance(mine, np.ndarray) and mine.dtype == ref.dtype
        np.testing.assert_array_equal(mine, ref)
    assert not np.array_equal(mine, images)  # something was drawn
    # (batch, h, w) masks and channels-first data give the same pixels
    np.testing.assert_array_equal(vis.draw_segmentation_masks(imgs, masks[..., 0], **options), mine)
    first = vis.draw_segmentation_masks(
        imgs.transpose(0, 3, 1, 2), masks.transpose(0, 3, 1, 2), data_format="channels_first",
        **options,
    )  # fmt: skip
    np.testing.assert_array_equal(first.transpose(0, 2, 3, 1), mine)


def test_draw_segmentation_masks_errors():
    images = np.zeros((1, 4, 4, 3), "uint8")
    with pytest.raises(TypeError, match="'segmentation_masks'.*float32"):
        vis.draw_segmentation_masks(images, np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="'images'"):
        vis.draw_segmentation_masks(images[0], np.zeros((1, 4, 4, 1), "int32"))


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    yield plt
    plt.close("all")


def _grid(fig):
    return sorted({(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start)
                   for ax in fig.axes})  # fmt: skip


def test_plot_image_gallery_grid_titles_and_saving(plt, tmp_path):
    images = np.random.default_rng(3).uniform(0, 1, (5, 8, 8, 3)).astype("float32")
    vis.plot_image_gallery(images, y_true=[0, 1, 2, 0, 1], y_pred=[0, 2, 2, 0, 1],
                           label_map={0: "a", 1: "b"}, value_range=(0, 1), show=False)  # fmt: skip
    fig = plt.gcf()
    # 5 images: ceil(sqrt(5)) = 3 rows, 5 // 3 = 1 column (as Keras)
    assert _grid(fig) == [(0, 0), (1, 0), (2, 0)]
    assert [ax.get_title() for ax in fig.axes] == [
        "Label: a  Pred: a",
        "Label: b  Pred: Unknown",
        "Label: Unknown  Pred: Unknown",
    ]
    shown = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(shown, (images[0] * 255).astype("uint8"))
    plt.close("all")

    path = tmp_path / "gallery.png"
    vis.plot_image_gallery(images[:4] * 255, rows=2, cols=2, path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == []  # saved and closed
    with pytest.raises(ValueError, match="'path'"):
        vis.plot_image_gallery(images, path=str(path), show=True)
    with pytest.raises(ValueError, match="'label_map'"):
        vis.plot_image_gallery(images, y_true=[0, 1], show=False)


def test_plot_bounding_box_gallery_legend_and_boxes(plt):
    images = np.zeros((4, 16, 16, 3), "uint8")
    y_true = {"boxes": np.tile([[[2, 2, 12, 12]]], (4, 1, 1)), "labels": np.zeros((4, 1))}
    vis.plot_bounding_box_gallery(images, "xyxy", y_true=y_true, y_pred=y_true, legend=True,
                                  line_thickness=1, show=False)  # fmt: skip
    fig = plt.gcf()
    assert _grid(fig) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Ground Truth", "Prediction"]
    shown = np.asarray(fig.axes[0].get_images()[0].get_array())
    assert tuple(shown[2, 5]) == (255, 235, 59) and not shown[6, 6].any()  # pred drawn last
    with pytest.raises(ValueError, match="'legend_handles'"):
        vis.plot_bounding_box_gallery(images, "xyxy", legend=True, legend_handles=[1])


def test_plot_segmentation_mask_gallery_rows(plt, tmp_path):
    images = np.full((2, 6, 6, 3), 100, "uint8")
    masks = np.ones((2, 6, 6, 1), "int32")
    path = tmp_path / "masks.png"
    vis.plot_segmentation_mask_gallery(images, num_classes=3, y_true=masks, y_pred=masks,
                                       show=False)  # fmt: skip
    fig = plt.gcf()
    assert _grid(fig) == [(r, c) for r in range(2) for c in range(3)]
    drawn = vis.draw_segmentation_masks(images, masks, num_classes=3)
    np.testing.assert_array_equal(fig.axes[1].get_images()[0].get_array(), drawn[0])
    np.testing.assert_array_equal(fig.axes[0].get_images()[0].get_array(), images[0])
    vis.plot_segmentation_mask_gallery(images, num_classes=3, y_true=masks, path=str(path))
    assert path.stat().st_size > 100


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"shoal\[plot\]"):
        vis.plot_image_gallery(np.zeros((1, 2, 2, 3)))


def test_namespace_and_lazy_imports():
    for name in ("visualization", "wrappers", "legacy"):
        assert name in dir(keras) and name in dir(shoal), name
    names = {n for n in dir(keras.visualization) if not n.startswith("_")}
    assert names == set(vis.__all__) and all(callable(getattr(vis, n)) for n in names)
    code = (
        "import sys, shoal; shoal.visualization; shoal.wrappers.__all__; shoal.legacy.saving; "
        "print(sorted(m for m in ('matplotlib', 'sklearn', 'keras', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
