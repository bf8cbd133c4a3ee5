"""`RemoteMonitor`: POST each epoch's logs to a server (Keras 3's callback, on urllib)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

from shoal.callbacks.callback import Callback


class RemoteMonitor(Callback):
    """At each epoch's end, POST `{"epoch": e, **logs}` to `root + path`.

    As a form field `field` holding the JSON text (the default), or as a JSON body with
    `send_as_json=True`. An unreachable server only warns: training goes on.

    Args:
        root: the server's URL.
        path: the path the events go to.
        field: the form field that carries the JSON text.
        headers: extra HTTP headers (a dict).
        send_as_json: send a JSON body (`application/json`) instead of a form.
        timeout: seconds to wait for the server.
    """

    _primary_only = True  # with several processes, only process 0 reports

    def __init__(
        self,
        root="http://localhost:9000",
        path="/publish/epoch/end/",
        field="data",
        headers=None,
        send_as_json=False,
        timeout=10.0,
    ):
        super().__init__()
        if headers is not None and not isinstance(headers, dict):
            raise ValueError(
                f"RemoteMonitor: argument 'headers' must be a dict or None, got {headers!r}"
            )
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json
        self.timeout = timeout

    def on_epoch_end(self, epoch, logs=None):
        event = {"epoch": epoch}
        for name, value in (logs or {}).items():
            event[name] = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(event).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(event)}).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(
            self.root + self.path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout):
                pass
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
