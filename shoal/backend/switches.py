"""`Switch`: an on/off choice between two implementations that compute the same thing.

Read once from an environment variable (`"0"` turns it off for the process) and turned
off for a block with `with switch.off():`. The choice is made when a function is traced,
so it affects new traces only.
"""

from __future__ import annotations

import contextlib
import os


class Switch:
    def __init__(self, env_var: str):
        self.env_var = env_var
        self.on = os.environ.get(env_var, "1") != "0"

    @contextlib.contextmanager
    def off(self):
        previous = self.on
        self.on = False
        try:
            yield
        finally:
            self.on = previous
