"""Keras-style unique names: ``conv2d``, ``conv2d_1``, ... per base name."""
import re
from collections import defaultdict

_counts = defaultdict(int)


def to_snake_case(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return s.replace("2_d", "2d").replace("1_d", "1d").replace("3_d", "3d")


def unique_name(base):
    """``base`` the first time, then ``base_1``, ``base_2``, ..."""
    n = _counts[base]
    _counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def reset():
    """Forget all names (``nbkeras.backend.clear_session``)."""
    _counts.clear()
