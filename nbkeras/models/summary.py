"""``model.summary()``: Keras 3's table, drawn without ``rich``.

Keras renders the summary with ``rich`` (a ``Table`` with the
``HEAVY_HEAD`` box and ``show_lines=True``).  This module reproduces the
plain-text form of that output character for character -- the same column
widths, word wrapping, ellipsis cropping, header alignment and cropping at
the console width -- using only the standard library.
"""
import math
import os
import re
import shutil
import sys
import unicodedata

__all__ = ["print_summary", "count_params", "weight_memory_size",
           "readable_memory_size"]

# Box characters of rich's HEAVY_HEAD box.
_TOP = ("┏", "━", "┳", "┓")
_HEAD_EDGE, _HEAD_DIV = "┃", "┃"
_HEAD_SEP = ("┡", "━", "╇", "┩")
_ROW_EDGE, _ROW_DIV = "│", "│"
_ROW_SEP = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")

_WORD = re.compile(r"\s*\S+\s*")
_TRAILING_SPACE = re.compile(r"\s+$")

# Bits per element, as Keras's ``dtype_utils.dtype_size`` counts them.
_DTYPE_BITS = {
    **{f"float{i}": i for i in (16, 32, 64)},
    **{f"int{i}": i for i in (8, 16, 32, 64)},
    **{f"uint{i}": i for i in (8, 16, 32, 64)},
    "bfloat16": 16,
    "bool": 1,
}


# --------------------------------------------------------------------------
# Parameter counting
# --------------------------------------------------------------------------
def _num_elements(w):
    size = getattr(w, "size", None)
    if size is not None and not callable(size):
        return int(size)
    shape = getattr(w, "shape", None)
    if shape is not None:
        return int(math.prod(shape))
    return 0


def _dtype_bits(w):
    dtype = getattr(w, "dtype", None)
    if dtype is None:
        return 32
    name = getattr(dtype, "name", None) or str(dtype)
    bits = _DTYPE_BITS.get(name)
    if bits is None:
        try:
            import numpy as np
            bits = np.dtype(dtype).itemsize * 8
        except Exception:  # unknown dtype: assume float32
            bits = 32
    return bits


def count_params(weights):
    """Total number of scalars in ``weights`` (duplicates counted, as Keras)."""
    return int(sum(_num_elements(w) for w in weights))


def weight_memory_size(weights):
    """Bytes taken by ``weights``, each distinct object counted once."""
    unique = {id(w): w for w in weights}.values()
    return sum(_num_elements(w) * _dtype_bits(w) for w in unique) / 8


def readable_memory_size(size):
    """``1234.0`` -> ``'1.21 KB'`` (binary units, two decimals)."""
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    for unit in units:
        if size / 1024 < 1:
            return "{:.2f} {}".format(size, unit)
        size /= 1024
    return "{:.2f} {}".format(size, units[-1])


# --------------------------------------------------------------------------
# Text layout (the parts of rich's wrapping the summary relies on)
# --------------------------------------------------------------------------
def _char_width(ch):
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _cell_len(text):
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _crop_cells(text, width):
    """The longest prefix of ``text`` that fits in ``width`` cells, padded
    with a space where a double-width character had to be dropped."""
    if _cell_len(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)


def _fit_cells(text, width):
    """Pad or crop ``text`` to exactly ``width`` cells."""
    n = _cell_len(text)
    if n < width:
        return text + " " * (width - n)
    return _crop_cells(text, width)


def _chop_cells(text, width):
    """Split ``text`` into pieces of at most ``width`` cells."""
    pieces, current, used = [], [], 0
    for ch in text:
        w = _char_width(ch)
        if current and used + w > width:
            pieces.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += w
    pieces.append("".join(current))
    return pieces


def _break_offsets(text, width, fold):
    """Character offsets at which ``text`` is broken to fit ``width`` cells."""
    breaks = []
    offset = 0
    for match in _WORD.finditer(text):
        start = match.start()
        word = match.group(0)
        word_len = _cell_len(word.rstrip())
        if width - offset >= word_len:
            offset += _cell_len(word)
        elif word_len > width:
            if fold:
                pieces = _chop_cells(word, width)
                for i, piece in enumerate(pieces):
                    if start:
                        breaks.append(start)
                    if i == len(pieces) - 1:
                        offset = _cell_len(piece)
                    else:
                        start += len(piece)
            else:
                if start:
                    breaks.append(start)
                offset = _cell_len(word)
        elif offset and start:
            breaks.append(start)
            offset = _cell_len(word)
    return breaks


def _truncate(line, width, overflow):
    if _cell_len(line) > width:
        if overflow == "ellipsis":
            return _crop_cells(line, width - 1) + "…"
        return _crop_cells(line, width)
    return line


def _wrap(text, width, justify="default", overflow="ellipsis"):
    """Word-wrap one paragraph to ``width`` cells.

    ``justify`` is "left", "right", "center" (lines padded to ``width``) or
    "default" (lines left as they are); words longer than a line are cut
    with an ellipsis (``overflow="ellipsis"``) or folded (``"fold"``).
    """
    lines = []
    for paragraph in text.split("\n"):
        cuts = [0] + _break_offsets(paragraph, width, overflow == "fold")
        cuts.append(len(paragraph))
        for a, b in zip(cuts, cuts[1:]):
            line = paragraph[a:b]
            excess = len(line) - width
            if excess > 0:  # drop trailing blanks that overhang the width
                m = _TRAILING_SPACE.search(line)
                if m is not None:
                    line = line[:len(line) - min(len(m.group(0)), excess)]
            if justify == "left":
                line = _truncate(line, width, overflow)
                line += " " * max(0, width - _cell_len(line))
            elif justify in ("right", "center"):
                line = _truncate(line.rstrip(), width, overflow)
                gap = width - _cell_len(line)
                if justify == "right":
                    line = " " * gap + line
                else:
                    left = gap // 2
                    line = " " * left + line
                    line += " " * (width - _cell_len(line))
            lines.append(_truncate(line, width, overflow))
    return lines


# --------------------------------------------------------------------------
# Table geometry (rich's column-width rules for fixed-width columns)
# --------------------------------------------------------------------------
def _ratio_reduce(total, ratios, maximums, values):
    ratios = [r if m else 0 for r, m in zip(ratios, maximums)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return list(values)
    remaining = total
    out = []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            cut = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - cut)
            remaining -= cut
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _ratio_distribute(total, ratios):
    total_ratio = sum(ratios)
    remaining = total
    out = []
    for ratio in ratios:
        share = math.ceil(ratio * remaining / total_ratio) if total_ratio > 0 \
            else remaining
        out.append(share)
        total_ratio -= ratio
        remaining -= share
    return out


def _cell_widths(column_widths, table_width):
    """Widths (padding included, borders excluded) of the drawn columns for
    a table ``table_width`` characters wide whose columns ask for
    ``column_widths`` characters of text each."""
    n = len(column_widths)
    avail = table_width - (n + 1)  # minus the vertical borders
    if avail < 1:
        return [1] * n
    widths = [min(w + 2, avail) or 1 for w in column_widths]
    total = sum(widths)
    if total > avail:
        widths = _ratio_reduce(total - avail, [1] * n, widths, widths)
        total = sum(widths)
        widths = [max(w, 0) for w in widths]
    if total < avail and sum(widths) > 0:
        pads = _ratio_distribute(avail - total, widths)
        widths = [w + p for w, p in zip(widths, pads)]
    return widths


def _render_cell(text, width, justify):
    inner = width - 2
    if inner < 1:  # no room for text: rich renders no lines at all
        return []
    return [" " + _fit_cells(line, inner) + " "
            for line in _wrap(text, inner, justify, "ellipsis")]


def _render_row(cells, widths, justify, edge, divider, valign):
    rendered = [_render_cell(c, w, j) for c, w, j in zip(cells, widths, justify)]
    height = max(1, max(len(r) for r in rendered))
    for i, (r, w) in enumerate(zip(rendered, widths)):
        blank = [" " * w] * (height - len(r))
        rendered[i] = blank + r if valign == "bottom" else r + blank
    return [edge + divider.join(parts) + edge for parts in zip(*rendered)]


def _rule(widths, chars):
    left, fill, mid, right = chars
    return left + mid.join(fill * w for w in widths) + right


def _render_table(header, rows, column_widths, justify, table_width):
    widths = _cell_widths(column_widths, table_width)
    lines = [_rule(widths, _TOP)]
    lines += _render_row(header, widths, justify, _HEAD_EDGE, _HEAD_DIV,
                         "bottom")
    lines.append(_rule(widths, _HEAD_SEP))
    for i, row in enumerate(rows):
        if i:
            lines.append(_rule(widths, _ROW_SEP))
        lines += _render_row(row, widths, justify, _ROW_EDGE, _ROW_DIV, "top")
    lines.append(_rule(widths, _BOTTOM))
    return lines


def _console_width(interactive):
    """The width rich would give its console: ``$COLUMNS``, else the size of
    the first standard stream that is a terminal, else 80."""
    if interactive and os.environ.get("TERM") in ("dumb", "unknown"):
        try:
            if sys.stdout.isatty():
                return 80
        except Exception:
            pass
    width = None
    for fd in (0, 1, 2):
        try:
            width = os.get_terminal_size(fd).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80


# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------
def _format_shape(shape):
    """``(None, 30, 30, 32)`` as Keras prints it; nested structures of shapes
    (multi-output layers) as their ``str`` without quotes."""
    if shape is None:
        return "?"

    def is_shape(s):
        return isinstance(s, (tuple, list)) and all(
            d is None or isinstance(d, int) or type(d).__name__.startswith("int")
            for d in s)

    def fmt(s):
        if isinstance(s, dict):
            return {k: fmt(v) for k, v in s.items()}
        if is_shape(s):
            return "(" + ", ".join(str(None if d is None else int(d))
                                   for d in s) + ")"
        return type(s)(fmt(v) for v in s)

    if is_shape(shape):
        return fmt(shape)
    formatted = fmt(shape)
    flat = []

    def flatten(s):
        if isinstance(s, dict):
            for v in s.values():
                flatten(v)
        elif isinstance(s, (list, tuple)):
            for v in s:
                flatten(v)
        else:
            flat.append(s)

    flatten(formatted)
    if len(flat) == 1:
        return flat[0]
    return str(formatted).replace("'", "")


def _graph_nodes(model):
    """The call nodes of a functional model (None for Sequential and subclassed)."""
    from .functional import Functional
    from .sequential import Sequential
    if isinstance(model, Sequential) or not isinstance(model, Functional):
        return None
    return list(model._nodes)


def _sequential_like(model, nodes):
    """Keras draws a functional model without the "Connected to" column when it is a
    chain: one input, every call with one input tensor, no layer called twice, no
    value feeding two calls."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    layers, consumed = set(), set()
    for node in nodes:
        if len(node.input_tensors) != 1 or id(node.operation) in layers \
                or id(node.input_tensors[0]) in consumed:
            return False
        layers.add(id(node.operation))
        consumed.add(id(node.input_tensors[0]))
    return True


def _connections(layer, nodes):
    """``name[node][tensor]`` of every input of the layer's calls in this model."""
    own = {id(n) for n in nodes}
    parts = []
    for node in layer._inbound_nodes:
        if id(node) not in own:
            continue
        for t in node.input_tensors:
            operation, node_index, tensor_index = t._keras_history
            parts.append(f"{operation.name}[{node_index}][{tensor_index}]")
    return ", ".join(parts) or "-"


def _layer_output_shape(layer):
    return _format_shape(getattr(layer, "output_shape", None))


def _layer_params(layer):
    if not hasattr(layer, "built"):
        return "0"
    if not layer.built:
        return "0 (unbuilt)"
    return f"{layer.count_params():,}"


def _layer_range_bounds(layers, layer_range):
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError(
            "layer_range must be a list or tuple of length 2. Received: "
            f"layer_range = {layer_range} of length {len(layer_range)}")
    if not all(isinstance(x, str) for x in layer_range):
        raise ValueError(
            f"layer_range should contain string type only. Received: {layer_range}")
    lower = [i for i, l in enumerate(layers) if re.match(layer_range[0], l.name)]
    upper = [i for i, l in enumerate(layers) if re.match(layer_range[1], l.name)]
    if not lower or not upper:
        raise ValueError(
            "Passed layer_names do not match the layer names in the model. "
            f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def _optimizer_variables(model):
    """The optimizer's variables when Keras would report them (compiled model,
    built optimizer), else ``None``."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(model, "compiled", True):
        return None
    variables = getattr(optimizer, "variables", None)
    if callable(variables):
        variables = variables()
    if variables is None:
        return None
    variables = list(variables)
    if not getattr(optimizer, "built", bool(variables)):
        return None
    return variables


def print_summary(model, line_length=None, positions=None, print_fn=None,
                  expand_nested=False, show_trainable=False, layer_range=None):
    """Print Keras 3's summary table of a Sequential-style ``model``.

    Args:
        model: the model (``name``, ``layers``, ``trainable_weights``,
            ``non_trainable_weights``; optionally ``optimizer``).
        line_length: total width of the table; defaults to 88, capped at the
            terminal width minus 4.
        positions: right edge of each column as a fraction of
            ``line_length``; defaults to ``[0.45, 0.80, 1.0]``.
        print_fn: called once with the whole summary (a string ending in a
            newline); by default the summary is written to stdout.
        expand_nested: also list the layers of nested models.
        show_trainable: add a column saying whether each layer is trainable.
        layer_range: two regexes naming the first and last layers to show.
    """
    layers = list(getattr(model, "layers", []))
    nodes = _graph_nodes(model)
    sequential_like = nodes is None or _sequential_like(model, nodes)

    if sequential_like:
        default_line_length = 88
        positions = positions or [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        justify = ["left", "left", "right"]
    else:
        default_line_length = 108
        positions = positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        justify = ["left", "left", "right", "left"]
    if show_trainable:
        default_line_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        justify.append("center")

    default_line_length = min(default_line_length,
                              shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_line_length
    column_widths = []
    current = 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        column_widths.append(width)
        current += width

    def layer_rows(layer, level=0):
        prefix = "   " * level + "└ " if level else ""
        fields = [f"{prefix}{layer.name} ({type(layer).__name__})",
                  _layer_output_shape(layer), _layer_params(layer)]
        if not sequential_like:
            fields.append(_connections(layer, nodes))
        if show_trainable:
            if len(getattr(layer, "weights", None) or []) > 0:
                fields.append("Y" if getattr(layer, "trainable", True) else "N")
            else:
                fields.append("-")
        rows = [fields]
        nested = getattr(layer, "layers", None) if expand_nested else None
        if nested:
            for sub in nested:
                rows.extend(layer_rows(sub, level + 1))
        return rows

    start, stop = _layer_range_bounds(layers, layer_range)
    rows = []
    for layer in layers[start:stop]:
        rows.extend(layer_rows(layer))

    trainable = list(model.trainable_weights)
    non_trainable = list(model.non_trainable_weights)
    trainable_count = count_params(trainable)
    trainable_size = weight_memory_size(trainable)
    non_trainable_count = count_params(non_trainable)
    non_trainable_size = weight_memory_size(non_trainable)
    optimizer_vars = _optimizer_variables(model)
    optimizer_count = count_params(optimizer_vars or [])
    optimizer_size = weight_memory_size(optimizer_vars or [])
    total_count = trainable_count + non_trainable_count + optimizer_count
    total_size = trainable_size + non_trainable_size + optimizer_size

    console_width = _console_width(interactive=print_fn is None)

    def text_lines(text):
        return _wrap(text, console_width, "default", "fold")

    lines = text_lines(f'Model: "{model.name}"')
    lines += [_crop_cells(line, console_width) for line in
              _render_table(header, rows, column_widths, justify, line_length)]
    stats = [("Total params", total_count, total_size),
             ("Trainable params", trainable_count, trainable_size),
             ("Non-trainable params", non_trainable_count, non_trainable_size)]
    if optimizer_vars is not None:
        stats.append(("Optimizer params", optimizer_count, optimizer_size))
    for label, count, size in stats:
        lines += text_lines(
            f" {label}: {count:,} ({readable_memory_size(size)})")
    text = "\n".join(lines) + "\n"

    if print_fn is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        print_fn(text)
