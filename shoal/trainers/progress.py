"""A Keras-style progress bar: `12/63 ━━━━━━━━━━━━━━━━━━━━ 1s 12ms/step - loss: 0.31`."""

from __future__ import annotations

import sys
import time

import numpy as np

from shoal.backend import run_settings


def _format_value(value) -> str:
    # To the host first: `np.mean` of a JAX array would run its `.mean`, a JAX computation.
    value = float(np.mean(np.asarray(value)))
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def _format_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_rate(per_step: float) -> str:
    if per_step >= 1:
        return f"{per_step:.0f}s/step"
    if per_step >= 1e-3:
        return f"{per_step * 1e3:.0f}ms/step"
    return f"{per_step * 1e6:.0f}us/step"


class Progbar:
    """Draws progress for `target` steps; `verbose=1` live bar, `verbose=2` one line at the end."""

    def __init__(self, target, width=20, verbose=1, unit_name="step", stream=None, interval=0.05):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream or sys.stdout
        self._start = time.perf_counter()
        self._last_len = 0
        self._dynamic = (
            hasattr(self.stream, "isatty")
            and self.stream.isatty()
            and run_settings.is_interactive_logging_enabled()
        )
        self._last_draw = 0.0

    def due(self, now=None) -> bool:
        """Whether a non-final `update` would draw now: a live bar (on a terminal) redraws
        every `interval` seconds (50 ms); elsewhere verbose=1 writes the final line only."""
        if self.verbose != 1 or not self._dynamic:
            return False
        now = time.perf_counter() if now is None else now
        return now - self._last_draw >= self.interval

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        now = time.perf_counter()
        if not finalize and not self.due(now):
            return
        self._last_draw = now
        elapsed = now - self._start
        per_step = elapsed / max(current, 1)
        metrics = "".join(f" - {k}: {_format_value(v)}" for k, v in (values or []))
        if self.verbose == 1:
            if self.target is not None:
                filled = int(self.width * current / max(self.target, 1))
                done, rest = "\u2501" * filled, "\u2501" * (self.width - filled)
                bar = f"\x1b[1m{done}\x1b[0m\x1b[2m{rest}\x1b[0m" if self._dynamic else done + rest
                head = f"{current}/{self.target} {bar} "
            else:
                head = f"{current}/Unknown "
            if finalize:
                timing = f"{_format_time(elapsed)} {_format_rate(per_step)}"
            else:
                eta = per_step * (self.target - current) if self.target else 0
                timing = f"{_format_time(eta)} {_format_rate(per_step)}"
            line = head + timing + metrics
            if self._dynamic:
                pad = max(self._last_len - len(line), 0)
                self.stream.write("\r" + line + " " * pad)
                self._last_len = len(line)
                if finalize:
                    self.stream.write("\n")
            elif finalize:
                self.stream.write(line + "\n")
            self.stream.flush()
        elif self.verbose == 2 and finalize:
            count = f"{current}/{self.target}" if self.target else f"{current}"
            line = f"{count} - {_format_time(elapsed)} - {_format_rate(per_step)}{metrics}"
            self.stream.write(line + "\n")
            self.stream.flush()
