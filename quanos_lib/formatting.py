"""How the companion writes numbers, everywhere (scorecard, notebooks, tables): one helper below both
:mod:`quanos_lib.paper` and :mod:`quanos_lib.results`, which read it."""
import math
import re


def format_value(value, unit="percent", digits=None):
    """A measured or claimed value as the companion writes it everywhere (scorecard, notebooks): a fraction as a
    percentage with two decimals (``1.77%``), a gain in percentage points with a sign (``+1.5 pts``; ``+0.08 pts`` below one point), a ratio with
    ``×`` (``1.65×``; a gain that rounds to zero as ``0.00 pts``), a plain number to three significant digits and
    never in e-notation (an R², ``0.998``; ``0.0000676``; ``10,123``); None as ``—``. ``digits``: the decimals of
    points, where a caller sets them for several numbers at once (:func:`format_interval`)."""
    if value is None:
        return "—"
    if unit == "percent":
        return f"{100 * value:.2f}%"
    if unit == "points":  # one decimal, two below one point (so that an interval's end near 0 keeps its sign)
        points = 100 * value
        digits = (1 if abs(points) >= 0.95 else 2) if digits is None else digits
        return f"{0:.{digits}f} pts" if abs(points) < 0.5 * 10 ** -digits else f"{points:+.{digits}f} pts"  # no -0
    if unit == "ratio":
        return f"{value:.2f}×"
    if unit == "number":  # three significant digits, never in e-notation
        if value == 0 or not math.isfinite(value):
            return f"{value:g}"
        text = f"{value:,.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    raise ValueError(f"unknown unit {unit!r}: percent, points, ratio or number")


def format_interval(measured, unit="percent"):
    """A value with its 95% interval as the companion writes it: ``+0.4 pts [-1.1 pts, +1.9 pts]`` (``measured``:
    a dict with ``value`` and ``interval``, as :func:`quanos_lib.results.over_seeds` and ``bootstrap`` give it)."""
    values = [measured["value"], *measured["interval"]]
    # points: one number of decimals for the three (two only when all are below one point)
    digits = 1 if unit == "points" and any(abs(100 * v) >= 0.95 for v in values if v is not None) else None
    value, low, high = (format_value(v, unit, digits) for v in values)
    return f"{value} [{low}, {high}]"


def metric_words(name):
    """A metric's name as a reader reads it in a table: ``adv_confidence_on_errors`` -> ``adv confidence on errors``,
    ``pgd_at_2_255_gain_vs_8bit`` -> ``pgd at 2/255 gain vs 8-bit``."""
    name = re.sub(r"(\d+)_255", r"\1/255", name)
    name = re.sub(r"(\d+)bit", r"\1-bit", name)
    return re.sub(r"(?<=_)0_(?=\d)", "0.", name).replace("_", " ")  # l1_0_0025: l1 0.0025


def format_duration(minutes):
    """An estimated duration: ``< 1 min``, ``~40 min``, ``~1.5 h`` or ``~12 h``."""
    if minutes < 1:
        return "< 1 min"
    if minutes < 90:
        return f"~{minutes:.0f} min"
    hours = minutes / 60
    return f"~{hours:.1f}".removesuffix(".0") + " h" if hours < 10 else f"~{hours:.0f} h"
