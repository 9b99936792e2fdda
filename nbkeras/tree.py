"""Nested structures of values (lists, tuples, dicts), as ``keras.tree`` handles them.

Dicts flatten in sorted key order, as Keras's tree does, so a structure and its
flat list always line up the same way.
"""


def is_nested(x):
    return isinstance(x, (list, tuple, dict))


def flatten(x):
    """The leaves of ``x`` in order (a leaf alone gives ``[x]``)."""
    out = []
    _flatten_into(x, out)
    return out


def _flatten_into(x, out):
    if isinstance(x, dict):
        for k in sorted(x):
            _flatten_into(x[k], out)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _flatten_into(v, out)
    else:
        out.append(x)


def map_structure(fn, x):
    """``x`` with every leaf replaced by ``fn(leaf)``; containers keep their types."""
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    if isinstance(x, list):
        return [map_structure(fn, v) for v in x]
    if isinstance(x, tuple):
        return tuple(map_structure(fn, v) for v in x)
    return fn(x)


def pack_sequence_as(structure, flat):
    """Leaves from ``flat`` (in :func:`flatten` order) put into ``structure``'s shape."""
    it = iter(flat)

    def pack(s):
        if isinstance(s, dict):
            return _pack_dict(s)
        if isinstance(s, list):
            return [pack(v) for v in s]
        if isinstance(s, tuple):
            return tuple(pack(v) for v in s)
        return next(it)

    def _pack_dict(s):  # fill in sorted order, keep the caller's key order
        packed = {k: pack(s[k]) for k in sorted(s)}
        return {k: packed[k] for k in s}

    return pack(structure)
