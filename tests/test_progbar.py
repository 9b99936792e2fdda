import contextlib
import io
import os
import time
import types

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

from nbkeras.utils import progbar as pb  # noqa: E402
from nbkeras.utils.progbar import Progbar  # noqa: E402

BAR = "\u2501"
B, G, W, R = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(pb, "time", types.SimpleNamespace(time=c))
    monkeypatch.delitem(__import__("sys").modules, "ipykernel", raising=False)
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    return c


def test_tty_redraws_in_place(clock):
    out = FakeTTY()
    bar = Progbar(1875, stream=out, interval=0.0, stateful_metrics=["accuracy", "loss"])
    clock.t += 1.0                      # first step: 1 s (compilation)
    bar.update(1, [("accuracy", 0.1), ("loss", 2.3)])
    clock.t += 46 * 0.0456              # then 45.6 ms a step
    first_len = len(out.getvalue())
    bar.update(47, [("accuracy", 0.4213), ("loss", 1.5712)])
    text = out.getvalue()
    second = text[first_len:]
    # ETA = 0.0456 * (1875 - 47) = 83.4 s -> 1:23
    expected = (f"{B}  47/1875{R} {W}{BAR * 20}{R} {B}1:23{R} 46ms/step"
                " - accuracy: 0.4213 - loss: 1.5712")
    assert second.startswith("\b" * first_len_visible(text[:first_len]) + "\r")
    assert second.endswith(expected)
    assert "\n" not in text
    assert text.count("\r") == 2
    assert "   1/1875" in text


def first_len_visible(s):
    import re
    return len(re.sub(r"\x1b\[\d+m", "", s).replace("\r", "").replace("\b", ""))


def test_tty_final_line_and_done_bar(clock):
    out = FakeTTY()
    bar = Progbar(1875, stream=out, interval=0.0, stateless_metrics=set())
    clock.t += 0.5
    bar.update(1, [("accuracy", 0.1), ("loss", 2.0)])
    clock.t += 1874 * 0.006
    bar.update(1000, [("accuracy", 0.7), ("loss", 0.7)])  # names keep first-seen order
    logs = [("accuracy", 0.8213), ("loss", 0.4912), ("val_accuracy", 0.85), ("val_loss", 0.41)]
    bar.update(1875, logs, finalize=True)
    last = out.getvalue().split("\r")[-1]
    assert last == (f"{B}1875/1875{R} {G}{BAR * 20}{R}{W}{R} {B}12s{R} 6ms/step"
                    " - accuracy: 0.8213 - loss: 0.4912 - val_accuracy: 0.8500"
                    " - val_loss: 0.4100\n")
    # halfway: 10 green, 10 white
    middle = out.getvalue().split("\r")[2]
    assert f"{G}{BAR * 10}{R}{W}{BAR * 10}{R}" in middle


def test_shorter_line_is_padded_over_previous(clock):
    out = FakeTTY()
    bar = Progbar(10, stream=out, interval=0.0, stateful_metrics=["a_long_metric_name"])
    clock.t += 1
    bar.update(1, [("a_long_metric_name", 1.0)])
    w1 = bar._prev_total_width
    bar2_values = out.getvalue()
    bar._values.clear()
    bar._values_order.clear()
    clock.t += 1
    bar.update(2)
    tail = out.getvalue()[len(bar2_values):]
    assert tail.startswith("\b" * w1 + "\r")
    assert tail.endswith(" " * (w1 - bar._prev_total_width))


def test_interval_throttles_redraws(clock):
    out = FakeTTY()
    bar = Progbar(100, stream=out, interval=10.0)
    for i in range(1, 51):
        clock.t += 0.01
        bar.update(i)
    assert out.getvalue().count("\r") == 1     # first update only
    bar.update(100)                            # finalize always draws
    assert out.getvalue().count("\r") == 2 and out.getvalue().endswith("\n")


def test_non_tty_prints_only_final_plain_line(clock):
    out = io.StringIO()
    bar = Progbar(10, stream=out, interval=0.0)
    clock.t += 0.4
    for i in range(1, 10):
        clock.t += 0.2
        bar.update(i, [("loss", 0.5)])
    assert out.getvalue() == ""
    clock.t += 0.2
    bar.update(10, [("loss", 0.5)])
    text = out.getvalue()
    assert "\r" not in text and "\b" not in text and "\x1b" not in text
    assert text == f"10/10 {BAR * 20} 2s 200ms/step - loss: 0.5000\n"


def test_verbose2_single_line(clock):
    out = FakeTTY()
    bar = Progbar(10, verbose=2, stream=out, interval=0.0)
    clock.t += 0.015
    bar.update(5, [("loss", 1.0)])
    assert out.getvalue() == ""
    clock.t += 0.015
    bar.update(10, [("loss", 0.25), ("acc", 1e-5)])
    assert out.getvalue() == "10/10 - 0s - 3ms/step - loss: 0.2500 - acc: 1.0000e-05\n"


def test_verbose0_silent(clock):
    out = FakeTTY()
    bar = Progbar(3, verbose=0, stream=out)
    for i in range(1, 4):
        bar.update(i, [("loss", 1.0)])
    assert out.getvalue() == ""


def test_small_values_use_e_format(clock):
    out = io.StringIO()
    bar = Progbar(2, stream=out, stateful_metrics=["tiny", "neg", "zero", "big"])
    bar.update(2, [("tiny", 2.5e-4), ("neg", -0.5), ("zero", 0.0), ("big", 1234.5)])
    text = out.getvalue()
    assert "tiny: 2.5000e-04" in text
    assert "neg: -0.5000" in text
    assert "zero: 0.0000e+00" in text
    assert "big: 1234.5000" in text


def test_stateless_metrics_are_averaged(clock):
    out = io.StringIO()
    bar = Progbar(10, stream=out, interval=0.0, stateful_metrics=["lr"])
    bar.update(1, [("loss", 1.0), ("lr", 0.1)])
    bar.update(3, [("loss", 4.0), ("lr", 0.2)])  # weight 2 for this one
    assert bar._values["loss"] == [1.0 + 8.0, 3]
    bar.update(4, [("loss", np.float32(1.0))])
    assert bar._values["loss"][0] / bar._values["loss"][1] == pytest.approx(10 / 4)
    assert bar._values["lr"] == [0.2, 1]
    # values given with the final update are shown as given (epoch logs)
    bar.update(10, [("loss", 0.3)])
    assert "loss: 0.3000" in out.getvalue() and "lr: 0.2000" in out.getvalue()


def test_keras_fit_style_shows_values_as_given(clock):
    out = io.StringIO()
    bar = Progbar(10, stream=out, stateless_metrics=set())
    bar.update(1, [("loss", 1.0)])
    bar.update(5, [("loss", 3.0)])
    assert bar._values["loss"] == [3.0, 1]
    with pytest.raises(ValueError):
        Progbar(10, stateful_metrics=[], stateless_metrics=[])


def test_add_and_unknown_target(clock):
    out = FakeTTY()
    bar = Progbar(None, stream=out, interval=0.0)
    clock.t += 2
    bar.add(3)
    bar.add(2)
    assert bar._seen_so_far == 5
    assert out.getvalue().endswith(f"      5/Unknown {B}2s{R} 400ms/step")
    bar.update(5, finalize=True)
    assert out.getvalue().endswith("\n")


@pytest.mark.parametrize("seconds,text", [
    (0, " 0s/step"), (2.4, " 2s/step"), (1.0, " 1s/step"), (0.0123, " 12ms/step"),
    (0.001, " 1ms/step"), (5e-6, " 5us/step"), (0.000999, " 999us/step"),
])
def test_time_units(seconds, text):
    assert Progbar._format_time(seconds, "step") == text
    assert Progbar._format_time(seconds, "sample") == text.replace("step", "sample")


@pytest.mark.parametrize("per_step,eta_text", [
    (0.0078125, "7s"),     # 990 steps left * 7.8 ms = 7.7 s
    (0.125, "2:03"),       # 123.75 s
    (4.0, "1:06:00"),      # 3960 s
])
def test_eta_formats(clock, per_step, eta_text):
    out = FakeTTY()
    bar = Progbar(1000, stream=out, interval=0.0)
    clock.t += per_step
    bar.update(1)
    clock.t += 9 * per_step
    bar.update(10)
    assert out.getvalue().split("\r")[-1].startswith(
        f"{B}  10/1000{R} {W}{BAR * 20}{R} {B}{eta_text}{R}")


def test_default_stream_is_sys_stdout_at_write_time(capsys):
    bar = Progbar(2, verbose=2)
    bar.update(2, [("loss", 0.5)])
    assert "2/2 - " in capsys.readouterr().out


def test_print_msg(monkeypatch):
    out = io.StringIO()
    pb.print_msg("hello", stream=out)
    pb.print_msg("x", line_break=False, stream=out)
    assert out.getvalue() == "hello\nx"

    class Ascii(io.StringIO):
        encoding = "ascii"

        def write(self, s):
            s.encode("ascii")
            return super().write(s)

    a = Ascii()
    pb.print_msg(BAR * 3 + " done", stream=a)
    assert a.getvalue() == "=== done\n"


# --------------------------------------------------------------------------
# byte-for-byte comparison with Keras 3's Progbar (terminal mode)
# --------------------------------------------------------------------------

def _drive(make_bar, monkeypatch, script, keras_bar=False):
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    buf = FakeTTY()
    with contextlib.redirect_stdout(buf):
        bar = make_bar()
        if keras_bar:
            bar._dynamic_display = True
        for dt, step, values, finalize in script:
            clock.t += dt
            bar.update(step, values, finalize=finalize)
    return buf.getvalue()


SCRIPT = [
    (1.2, 1, [("loss", 2.3), ("accuracy", 0.1)], False),
    (0.3, 5, [("loss", 1.9), ("accuracy", 0.2)], False),
    (0.5, 12, [("loss", 1.1), ("accuracy", -0.00005)], False),
    (0.01, 13, [("loss", 1.0), ("accuracy", 0.3)], False),
    (3.0, 40, [("loss", 0.5), ("accuracy", 0.9)], False),
    (0.1, 40, [("loss", 0.45), ("accuracy", 0.91), ("val_loss", 0.4)], True),
]


@pytest.mark.parametrize("kwargs", [
    {},
    {"stateless_metrics": set()},
    {"stateful_metrics": ["accuracy"], "width": 30, "unit_name": "sample"},
])
@pytest.mark.parametrize("verbose", [1, 2])
def test_matches_keras_output(monkeypatch, kwargs, verbose):
    pytest.importorskip("keras")
    kp = pytest.importorskip("keras.src.utils.progbar")
    monkeypatch.delenv("KERAS_INTERACTIVE_LOGGING", raising=False)
    ours = _drive(lambda: Progbar(40, verbose=verbose, **kwargs), monkeypatch, SCRIPT)
    theirs = _drive(lambda: kp.Progbar(40, verbose=verbose, **kwargs), monkeypatch,
                    SCRIPT, keras_bar=True)
    assert ours == theirs
    assert ours
