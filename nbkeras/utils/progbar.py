"""Keras 3's progress bar, same text on screen.

On a terminal (or in Jupyter / Colab / PyCharm) the bar is redrawn in place::

      47/1875 ━━━━━━━━━━━━━━━━━━━━ 1:23 45ms/step - accuracy: 0.4213 - loss: 1.5712

with Keras 3's ANSI styling (bold counter and time, green done part, white
remaining part) and a final line giving the elapsed time::

    1875/1875 ━━━━━━━━━━━━━━━━━━━━ 12s 6ms/step - accuracy: 0.8213 - loss: 0.4912

When the output is not a terminal (a pipe, a CI log) ``verbose=1`` writes only
that final line, as plain text: no ``\\r``/``\\b`` redraws and no ANSI codes.
``verbose=2`` writes one line per bar, without the bar itself.
"""
import math
import os
import sys
import time

import numpy as np

__all__ = ["Progbar", "print_msg"]

_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_WHITE = "\x1b[37m"
_RESET = "\x1b[0m"
_BAR_CHAR = "\u2501"  # ━ (done and remaining alike; only the colour differs)


def print_msg(message, line_break=True, stream=None):
    """Write ``message`` to ``stream`` (default: the current ``sys.stdout``).

    If the stream's encoding cannot represent the bar character, it falls back
    to ``=`` (as Keras does).
    """
    stream = sys.stdout if stream is None else stream
    message = str(message)
    if line_break:
        message += "\n"
    try:
        stream.write(message)
    except UnicodeEncodeError:
        message = message.replace(_BAR_CHAR, "=")
        encoding = getattr(stream, "encoding", None) or "utf-8"
        stream.write(message.encode(encoding, errors="ignore").decode(encoding))
    flush = getattr(stream, "flush", None)
    if flush is not None:
        flush()


def _stream_is_dynamic(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        tty = bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # closed or detached stream
        tty = False
    return (tty or "ipykernel" in sys.modules or "google.colab" in sys.modules
            or "PYCHARM_HOSTED" in os.environ)


def _format_value(avg, signed=True):
    # Keras: "%.4f" when |avg| > 1e-3, else "%.4e".  (Its verbose=2 line tests
    # ``avg > 1e-3`` without abs(), so negative values print in e-format there.)
    big = abs(avg) > 1e-3 if signed else avg > 1e-3
    return f" {avg:.4f}" if big else f" {avg:.4e}"


class Progbar:
    """Displays a progress bar (``keras.utils.Progbar``).

    Args:
        target: total number of steps expected, ``None`` if unknown.
        width: bar width in characters.
        verbose: 0 (silent), 1 (bar), 2 (one line at the end).
        interval: minimum seconds between two redraws.
        stateful_metrics: names of metrics shown as given; all others are
            averaged over the steps (weighted by steps since the last update).
        stateless_metrics: names of metrics that are averaged; all others are
            shown as given (Keras 3's ``fit`` passes an empty set: every metric
            is shown as given).  Give at most one of the two.
        unit_name: unit in the time display (``"step"`` -> ``6ms/step``).
        stream: where to write; ``None`` means ``sys.stdout`` looked up at each
            write (so output capture works).  Whether the bar redraws in place
            is decided here, once, from ``stream.isatty()`` (or a notebook).
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05,
                 stateful_metrics=None, stateless_metrics=None,
                 unit_name="step", stream=None):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Only one of `stateful_metrics` or `stateless_metrics` can be "
                "provided.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream
        if stateful_metrics is not None:
            self.stateful_metrics = set(stateful_metrics)
            self.stateless_metrics = None
        elif stateless_metrics is not None:
            self.stateful_metrics = None
            self.stateless_metrics = set(stateless_metrics)
        else:
            self.stateful_metrics = set()
            self.stateless_metrics = None

        self._dynamic_display = _stream_is_dynamic(
            sys.stdout if stream is None else stream)
        self._seen_so_far = 0
        self._values = {}
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._time_at_epoch_start = self._start
        self._time_after_first_step = None
        self._prev_total_width = 0

    # -- public API ---------------------------------------------------------

    def update(self, current, values=None, finalize=None):
        """Show step ``current``; ``values`` is a list of ``(name, value)``.

        ``finalize`` defaults to ``current >= target`` (``False`` if the target
        is unknown).
        """
        if finalize is None:
            finalize = False if self.target is None else current >= self.target

        for k, v in values or []:
            if k not in self._values_order:
                self._values_order.append(k)
            if self.stateful_metrics is not None:
                stateless = k not in self.stateful_metrics
            else:
                stateless = k in self.stateless_metrics
            if stateless and not finalize:
                weight = max(current - self._seen_so_far, 1)
                if k not in self._values:
                    self._values[k] = [v * weight, weight]
                else:
                    self._values[k][0] += v * weight
                    self._values[k][1] += weight
            else:
                # Stateful metrics, and every value given with the final
                # update (Keras: those are already epoch averages), are shown
                # as given.
                self._values[k] = [v, 1]
        self._seen_so_far = current

        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            if self._dynamic_display:
                self._write_dynamic(current, now, time_per_unit, finalize)
            elif finalize:
                line, _ = self._line(current, now, time_per_unit, True, styled=False)
                print_msg(line, line_break=True, stream=self.stream)
        elif self.verbose == 2:
            if finalize and self.target is not None and self.target > 0:
                print_msg(self._verbose2_line(current, now, time_per_unit),
                          line_break=True, stream=self.stream)

        self._last_update = now

    def add(self, n, values=None):
        """Advance by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    # -- formatting ---------------------------------------------------------

    def _write_dynamic(self, current, now, time_per_unit, finalize):
        line, width = self._line(current, now, time_per_unit, finalize, styled=True)
        message = "\b" * self._prev_total_width + "\r" + line
        if self._prev_total_width > width:
            message += " " * (self._prev_total_width - width)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False, stream=self.stream)
        self._prev_total_width = width

    def _line(self, current, now, time_per_unit, finalize, styled):
        """The bar line and its visible width (without escape codes)."""
        def style(code, text):
            return f"{code}{text}{_RESET}" if styled else text

        parts = []  # (styled text, visible text)
        if self.target is not None and self.target > 0:
            numdigits = int(math.log10(self.target)) + 1
            count = f"%{numdigits}d/%d" % (current, self.target)
            parts.append((style(_BOLD, count) + " ", count + " "))
            prog_width = int(self.width * (float(current) / self.target))
            if prog_width > 0:
                done = _BAR_CHAR * prog_width
                parts.append((style(_GREEN, done), done))
            todo = _BAR_CHAR * max(self.width - prog_width, 0)
            parts.append((style(_WHITE, todo), todo))
        else:
            count = "%7d/Unknown" % current
            parts.append((count, count))

        if self.target is not None and self.target > 0 and not finalize:
            eta = time_per_unit * (self.target - current)
            if eta > 3600:
                when = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
            elif eta > 60:
                when = "%d:%02d" % (eta // 60, eta % 60)
            else:
                when = "%ds" % eta
        else:
            when = f"{now - self._start:.0f}s"
        parts.append((" " + style(_BOLD, when), " " + when))

        rest = self._format_time(time_per_unit, self.unit_name)
        rest += self._metrics_text(signed=True)
        parts.append((rest, rest))

        text = "".join(p[0] for p in parts)
        width = sum(len(p[1]) for p in parts)
        return text, width

    def _verbose2_line(self, current, now, time_per_unit):
        numdigits = int(math.log10(self.target)) + 1
        count = f"%{numdigits}d/%d" % (current, self.target)
        info = f"{count} - {now - self._start:.0f}s"
        info += f" -{self._format_time(time_per_unit, self.unit_name)}"
        info += self._metrics_text(signed=False)
        return info

    def _metrics_text(self, signed):
        text = ""
        for k in self._values_order:
            total, count = self._values[k]
            if not isinstance(total, float):
                total = np.mean(total)
            text += f" - {k}:" + _format_value(total / max(1, count), signed)
        return text

    @staticmethod
    def _format_time(time_per_unit, unit_name):
        if time_per_unit >= 1 or time_per_unit == 0:
            return f" {time_per_unit:.0f}s/{unit_name}"
        if time_per_unit >= 1e-3:
            return f" {time_per_unit * 1000.0:.0f}ms/{unit_name}"
        return f" {time_per_unit * 1000000.0:.0f}us/{unit_name}"

    def _estimate_step_duration(self, current, now):
        """Seconds per step; ignores the (slow, compiling) first step once
        there are more."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit
