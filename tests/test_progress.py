"""The progress bar reads metric values only when it draws a line."""

import io

import numpy as np

from shoal.trainers.progress import Progbar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class _Value:
    """A metric value that counts how often it is brought to the host."""

    def __init__(self, value):
        self.value, self.reads = value, 0

    def __array__(self, dtype=None, copy=None):
        self.reads += 1
        return np.asarray(self.value, dtype=dtype)


def test_off_a_terminal_only_the_final_line_is_drawn():
    stream, loss = io.StringIO(), _Value(0.25)
    bar = Progbar(target=10, verbose=1, stream=stream)
    for step in range(1, 10):
        bar.update(step, [("loss", loss)])
    assert stream.getvalue() == "" and loss.reads == 0
    bar.update(10, [("loss", loss)])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("10/10 ") and "loss: 0.2500" in lines[0]
    assert loss.reads == 1


def test_on_a_terminal_the_bar_redraws_at_most_every_50_ms():
    stream, loss = _Terminal(), _Value(2.0)
    bar = Progbar(target=100, verbose=1, stream=stream)
    assert bar.due()
    bar.update(1, [("loss", loss)])
    assert "1/100 " in stream.getvalue() and loss.reads == 1
    for step in range(2, 100):  # well within 50 ms of the first draw
        bar.update(step, [("loss", loss)])
    assert loss.reads == 1 and not bar.due()
    bar._last_draw -= 0.06
    assert bar.due()
    bar.update(100, [("loss", loss)])
    assert stream.getvalue().endswith("loss: 2.0000\n") and loss.reads == 2


def test_verbose_2_writes_one_line_per_epoch_and_reads_values_once():
    stream, acc = io.StringIO(), _Value([0.5, 1.0])
    bar = Progbar(target=3, verbose=2, stream=stream)
    bar.update(1, [("accuracy", acc)])
    bar.update(2, [("accuracy", acc)])
    assert stream.getvalue() == "" and acc.reads == 0
    bar.update(3, [("accuracy", acc)])
    assert stream.getvalue().startswith("3/3 - ") and "accuracy: 0.7500" in stream.getvalue()
    assert acc.reads == 1


class _Pending:
    """A JAX-like value whose computation is still in flight until `done`."""

    def __init__(self, value, done=False):
        self.value, self.done = value, done

    def is_ready(self):
        return self.done

    def __array__(self, dtype=None, copy=None):
        assert self.done, "the bar waited for a value in flight"
        return np.asarray(self.value, dtype=dtype)


def test_live_bar_shows_the_newest_computed_logs_without_waiting(capsys):
    from shoal.callbacks.progbar_logger import ProgbarLogger

    logger = ProgbarLogger()
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    terminal = _Terminal()
    logger.progbar.stream, logger.progbar._dynamic = terminal, True
    first = {"loss": _Pending(1.0, done=True)}
    second = {"loss": _Pending(0.5)}
    logger.on_train_batch_end(0, first)
    assert "1/3" in terminal.getvalue() and "loss: 1.0000" in terminal.getvalue()
    logger.progbar._last_draw -= 0.06
    logger.on_train_batch_end(1, second)  # in flight: the step count moves, the loss is older
    assert "2/3" in terminal.getvalue() and "loss: 0.5000" not in terminal.getvalue()
    second["loss"].done = True
    logger.on_epoch_end(0, {"loss": 0.25})
    assert terminal.getvalue().endswith("loss: 0.2500\n")
    capsys.readouterr()


def test_fit_keeps_at_most_in_flight_executions_outstanding(monkeypatch):
    import shoal
    from shoal.trainers import fit_loop

    seen = []
    dispatch = fit_loop._Runner.__call__

    def watched(self, batch, fused):
        out = dispatch(self, batch, fused)
        seen.append(out)
        older = seen[: -fit_loop.IN_FLIGHT]
        assert all(v.is_ready() for logs in older for v in logs.values())
        return out

    monkeypatch.setattr(fit_loop._Runner, "__call__", watched)
    model = shoal.Sequential([shoal.Input((4,)), shoal.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=1)
    x = np.ones((40, 4), "float32")
    model.fit(x, np.zeros((40, 2), "float32"), batch_size=4, verbose=0)
    assert len(seen) == 10
