"""`save_assets` / `load_assets`: files a layer keeps beside its weights in a `.keras` file.

As in Keras, an object of the model (a layer, the model itself) that defines
`save_assets(dir_path)` is given a fresh folder to write into when the model is saved; the
folder goes into the archive as `assets/<the object's path>/...` (the path its weights have,
e.g. `layers/my_layer`). Loading gives `load_assets(dir_path)` the same folder back.
"""

from __future__ import annotations

import os
import tempfile

ASSETS_PREFIX = "assets/"


def _hook(obj, name):
    method = getattr(obj, name, None)
    return method if callable(method) else None


def _folders(model, name, root):
    """(hook, folder) for every object of `model` with the hook `name`, folders under root."""
    from shoal.saving.weights_file import _walk

    found = []

    def visit(obj, path):
        hook = _hook(obj, name)
        if hook is not None:
            found.append((hook, os.path.join(root, *path.split("/")) if path else root))

    _walk(model, "", visit, set())
    return found


def collect_assets(model) -> dict:
    """{path under assets/: bytes} of what every `save_assets` of `model` writes."""
    members = {}
    with tempfile.TemporaryDirectory() as root:
        hooks = _folders(model, "save_assets", root)
        for hook, folder in hooks:
            os.makedirs(folder, exist_ok=True)
            hook(folder)
        for base, _, files in os.walk(root):
            for filename in sorted(files):
                full = os.path.join(base, filename)
                with open(full, "rb") as f:
                    members[os.path.relpath(full, root).replace(os.sep, "/")] = f.read()
    return members


def write_assets(model, zf) -> None:
    """Store what every `save_assets` of `model` writes in the open ZipFile."""
    for member, data in collect_assets(model).items():
        zf.writestr(ASSETS_PREFIX + member, data)


def read_assets(model, members: dict) -> None:
    """Give every `load_assets` of `model` its folder, rebuilt from `members`
    ({archive name: bytes} of the `assets/` entries)."""
    with tempfile.TemporaryDirectory() as root:
        hooks = _folders(model, "load_assets", root)
        if not hooks:
            return
        for name, data in members.items():
            parts = [p for p in name[len(ASSETS_PREFIX) :].split("/") if p]
            if not parts or any(p in (".", "..") for p in parts):
                continue  # never outside the folder
            target = os.path.join(root, *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
        for hook, folder in hooks:
            os.makedirs(folder, exist_ok=True)
            hook(folder)
