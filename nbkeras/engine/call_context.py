"""What the layer calls in progress share: how deep the current call is and its
``training`` flag, which a layer called without ``training=`` inherits from the
call around it (as in Keras: ``model(x, training=True)`` reaches every Dropout)."""

_state = {"depth": 0, "training": None}


def depth():
    return _state["depth"]


def training():
    return _state["training"]


def enter(training):
    """Start a nested call; returns what :func:`leave` restores."""
    saved = (_state["depth"], _state["training"])
    _state["depth"] = saved[0] + 1
    if training is not None:
        _state["training"] = bool(training)
    return saved


def leave(saved):
    _state["depth"], _state["training"] = saved
