"""`LayoutMap`: variable-path regex -> `TensorLayout` (Keras 3 semantics)."""

from __future__ import annotations

import collections
import re

from shoal.backend.path_patterns import match_path
from shoal.distribution.mesh import TensorLayout


class LayoutMap(collections.abc.MutableMapping):
    """A dict whose keys are regexes matched (`re.fullmatch`) against variable paths.

    An exact key wins; otherwise exactly one pattern may match (several is an error) and
    no match gives None (the variable is replicated). Values may be given as tuples of axis
    names, converted to `TensorLayout` on this map's mesh.

        layout_map = LayoutMap(mesh)
        layout_map[".*dense.*kernel"] = (None, "model")
        layout_map[".*dense.*bias"] = ("model",)
    """

    def __init__(self, device_mesh):
        self._layouts: collections.OrderedDict = collections.OrderedDict()
        self._device_mesh = device_mesh

    @property
    def device_mesh(self):
        return self._device_mesh

    def __getitem__(self, key):
        return match_path(
            self._layouts,
            key,
            None,
            lambda key, matches: (
                f"LayoutMap: path {key!r} matches several keys {matches}; each variable path "
                "may match at most one key"
            ),
        )

    def __setitem__(self, key, layout):
        if not isinstance(key, str):
            raise TypeError(f"LayoutMap keys must be strings (regexes); got {key!r}")
        if key in self._layouts:
            raise ValueError(f"LayoutMap: key {key!r} already has a layout {self._layouts[key]}")
        if isinstance(layout, (tuple, list)):
            layout = TensorLayout(layout)
        if not isinstance(layout, TensorLayout):
            raise ValueError(
                f"LayoutMap values must be TensorLayout or a tuple of axis names; got {layout!r}"
            )
        try:
            re.compile(key)
        except re.error as e:
            raise ValueError(f"LayoutMap key {key!r} is not a valid regex: {e}") from None
        if layout.device_mesh is None:
            layout.device_mesh = self._device_mesh
        self._layouts[key] = layout

    def __delitem__(self, key):
        del self._layouts[key]

    def __len__(self):
        return len(self._layouts)

    def __iter__(self):
        return iter(self._layouts)
