"""GradientTape: TensorFlow-Keras's custom-training API on the nbkeras tape.

    with nbkeras.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(y=y, y_pred=y_pred)
    grads = tape.gradient(loss, model.trainable_variables)
    model.optimizer.apply_gradients(zip(grads, model.trainable_variables))

Trainable variables are watched automatically; ``watch`` adds other tensors or
arrays. A tape that is not ``persistent`` gives one ``gradient`` call.
"""
import numpy as np

from .. import tree
from .tape import Tape
from .tensor import Tensor


class GradientTape:
    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._tape = Tape(record=True, persistent=persistent,
                          watch_variables=watch_accessed_variables)
        self.persistent = persistent
        self._used = False

    def __enter__(self):
        self._tape.__enter__()
        return self

    def __exit__(self, *exc):
        self._tape.__exit__(*exc)

    def watch(self, tensor):
        for t in tree.flatten(tensor):
            self._tape.watch(t)

    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients="none"):
        """Gradients of ``target`` with respect to each of ``sources`` (same structure);
        None for a source the target does not depend on (or zeros, with
        ``unconnected_gradients="zero"``)."""
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one "
                               "set of gradients; create it with persistent=True for more.")
        if not isinstance(target, Tensor) or target.entry is None \
                or target.entry.tape is not self._tape:
            raise ValueError(
                f"tape.gradient(): the target ({type(target).__name__}"
                f"{'' if not hasattr(target, 'shape') else f' of shape {tuple(target.shape)}'}) "
                f"was not computed under this GradientTape from anything it watches, so it has "
                f"no gradient. Compute it inside `with tape:` from trainable variables or "
                f"watched tensors.")
        flat_sources = tree.flatten(sources)
        seed = None if output_gradients is None else np.array(
            getattr(output_gradients, "value", output_gradients), dtype=np.float32)
        grads = self._tape.backward(target, seed=seed,
                                    keep=[s for s in flat_sources if isinstance(s, Tensor)])
        result = []
        for s in flat_sources:
            g = grads.get(s)
            if g is None and unconnected_gradients == "zero":
                g = np.zeros(np.shape(getattr(s, "value", s)), dtype=np.float32)
            result.append(None if g is None else np.array(g, dtype=np.float32))
        self._used = True
        if not self.persistent:
            self._tape.release()
        return tree.pack_sequence_as(sources, result) if tree.is_nested(sources) else result[0]

    def stop_recording(self):
        from contextlib import contextmanager

        @contextmanager
        def paused():
            self._tape.record = False
            try:
                yield
            finally:
                self._tape.record = True
        return paused()
