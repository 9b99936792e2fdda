"""The optimizer base class: Keras 3's optimizer, over a flat parameter arena.

A model's trainable weights live in one contiguous float32 buffer (the arena)
and their gradients in a second one. The optimizer sees only those two flat
arrays: :meth:`Optimizer.build` takes the number of elements of every trainable
variable (in arena order) and allocates each slot (momentum, velocity, ...) as
one flat float32 array of the arena's length; :meth:`Optimizer.apply` clips the
gradients, then runs the optimizer's ONE fused kernel (weight decay + update)
over the whole arena, in place.

Kernels are reached only through :func:`nbkeras.backend.ops`.
"""
import collections
import inspect
import re
import warnings

import numpy as np

from nbkeras import backend

_name_uids = collections.defaultdict(int)


def _to_snake_case(name):
    # Keras's naming.to_snake_case ("RMSprop" -> "rm_sprop", "AdamW" -> "adam_w").
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _auto_name(prefix):
    prefix = _to_snake_case(prefix)
    uid = _name_uids[prefix]
    _name_uids[prefix] += 1
    return prefix if uid == 0 else f"{prefix}_{uid}"


def _is_number(x):
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _positive_or_none(name, value):
    if value is None:
        return None
    if not _is_number(value):
        raise ValueError(f"Argument `{name}` must be a float or None. Received: {name}={value!r}")
    return float(value)


def _call_schedule(schedule, step):
    """Evaluate a learning-rate callable: ``schedule(step)``, or ``schedule()``
    for a callable that takes no argument (Keras calls plain callables so)."""
    try:
        params = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):
        return schedule(step)
    takes_arg = any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        for p in params)
    return schedule(step) if takes_arg else schedule()


class Optimizer:
    """Base class of the nbkeras optimizers (Keras 3 arguments and defaults).

    Args:
        learning_rate: a float, or a callable ``f(step) -> float`` (a learning
            rate schedule, evaluated at the number of steps already applied).
        weight_decay: float or None; decoupled weight decay,
            ``w <- w - w * weight_decay * lr`` before each update.
        clipnorm: float or None; each variable's gradient is clipped to this L2 norm.
        clipvalue: float or None; gradients are clipped elementwise to ``[-v, v]``.
        global_clipnorm: float or None; all gradients together are clipped to
            this L2 norm. At most one of the three clip arguments may be set.
        loss_scale_factor: float or None; :meth:`scale_loss` multiplies the
            loss by it and :meth:`apply` divides the gradients by it.
        name: string; defaults to the snake-cased class name, made unique.

    ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency`` and
    ``gradient_accumulation_steps`` are accepted with Keras's defaults (so Keras
    configs load) but not implemented: enabling them raises NotImplementedError.

    Interface of the training loop: :meth:`build` (``sizes``), :meth:`step`
    (``params``, ``grads``: flat float32 arenas), :attr:`iterations`. Keras's own
    :meth:`apply` (``grads``, ``trainable_variables``) and :meth:`apply_gradients`
    take the model's arena as it is when the variables are its weights, in order.

    Writing a new optimizer: override :meth:`_create_slots` (call
    :meth:`add_slot` for each state array) and :meth:`update_step`
    (``gradient``, ``variable`` are the flat arenas, updated in place).
    """

    # Built-in optimizers fold weight decay into their fused kernel; a subclass
    # that does not gets it applied by the base class before update_step.
    _fuses_weight_decay = False

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")

        self.name = _auto_name(type(self).__name__) if name is None else name
        self.weight_decay = _positive_or_none("weight_decay", weight_decay)
        self.clipnorm = _positive_or_none("clipnorm", clipnorm)
        self.clipvalue = _positive_or_none("clipvalue", clipvalue)
        self.global_clipnorm = _positive_or_none("global_clipnorm", global_clipnorm)
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                f"be set. Received: clipnorm={clipnorm}, "
                f"clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.loss_scale_factor = _positive_or_none("loss_scale_factor", loss_scale_factor)

        if gradient_accumulation_steps:
            if not gradient_accumulation_steps >= 2:
                raise ValueError(
                    "`gradient_accumulation_steps` must be an integer >= 2. "
                    f"Received: gradient_accumulation_steps={gradient_accumulation_steps}")
            raise NotImplementedError(
                "nbkeras optimizers do not implement `gradient_accumulation_steps` yet.")
        if use_ema:
            raise NotImplementedError("nbkeras optimizers do not implement `use_ema` yet.")
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.gradient_accumulation_steps = gradient_accumulation_steps

        self._learning_rate = None
        self.learning_rate = learning_rate
        self.iterations = 0
        self.built = False
        self._sizes = []
        self._shapes = []
        self._offsets = np.zeros(1, dtype=np.int64)
        self._size = 0
        self._slots = {}

    # ------------------------------------------------------------------ lr
    @property
    def learning_rate(self):
        """The current learning rate, a float (a schedule is evaluated at
        :attr:`iterations`)."""
        lr = self._learning_rate
        if callable(lr):
            return float(_call_schedule(lr, self.iterations))
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(value):
            self._learning_rate = value
            return
        if not _is_number(value):
            raise ValueError(
                "Argument `learning_rate` should be float, or a callable "
                "(that takes in the current iteration value and returns the "
                f"corresponding learning rate value). Received instead: "
                f"learning_rate={value!r}")
        if callable(self._learning_rate):
            raise TypeError(
                "This optimizer was created with a learning rate schedule as its "
                "`learning_rate` argument, hence its learning rate is not "
                "settable. If you need the learning rate to be settable, you "
                "should instantiate the optimizer with a float `learning_rate` "
                "argument.")
        self._learning_rate = float(value)

    # ---------------------------------------------------------- building
    def build(self, sizes):
        """Allocate the slot arrays for trainable variables of ``sizes`` elements.

        ``sizes``: the element count of each trainable variable, in arena order
        (a shape tuple is accepted in place of a count; the slot views of
        :attr:`variables` then take that shape). Building again with the same
        sizes is a no-op; with other sizes the slots are created afresh.
        """
        shapes = []
        for s in sizes:
            if isinstance(s, (tuple, list)):
                shapes.append(tuple(int(d) for d in s))
            else:
                shapes.append((int(s),))
        counts = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        if any(c < 0 for c in counts):
            raise ValueError(f"Variable sizes must be >= 0. Received: sizes={sizes}")
        if self.built and counts == self._sizes:
            self._shapes = shapes
            return
        self._sizes = counts
        self._shapes = shapes
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        self._offsets = offsets
        self._size = int(offsets[-1])
        self._slots = {}
        self._create_slots()
        self.built = True

    def _create_slots(self):
        """Subclasses: create their state arrays with :meth:`add_slot`."""

    def add_slot(self, name, initial_value=0.0):
        """A flat float32 slot array of the arena's length, filled with
        ``initial_value``; kept under ``name`` and returned."""
        arr = backend.zeros(self._size, dtype=np.float32)
        if initial_value:
            arr[...] = np.float32(initial_value)
        self._slots[name] = arr
        return arr

    def get_slot(self, name):
        """The flat slot array called ``name`` (e.g. ``"momentum"``)."""
        return self._slots[name]

    @property
    def segment_offsets(self):
        """int64 array of ``len(sizes) + 1`` arena offsets (variable k is
        ``[offsets[k], offsets[k+1])``)."""
        return self._offsets

    _EMPTY = np.zeros(0, dtype=np.float32)

    def _slot_or_empty(self, name):
        return self._slots.get(name, self._EMPTY)

    # ------------------------------------------------------------ update
    def _check_arena(self, what, a):
        if getattr(a, "dtype", None) != np.float32 or getattr(a, "ndim", None) != 1:
            raise TypeError(
                f"`{what}` must be a flat float32 array; received dtype="
                f"{getattr(a, 'dtype', type(a).__name__)}, shape={getattr(a, 'shape', None)}.")
        if a.shape[0] != self._size:
            raise ValueError(
                f"`{what}` has {a.shape[0]} elements but the optimizer was built "
                f"for {self._size} (sizes={self._sizes}).")
        flags = getattr(a, "flags", None)
        if flags is not None and not flags["C_CONTIGUOUS"]:
            raise ValueError(f"`{what}` must be C-contiguous (it is updated in place).")

    def step(self, params, grads):
        """One optimizer step over the arena, in place.

        Divides ``grads`` by ``loss_scale_factor`` (if set), clips them (in
        place), then applies weight decay and the update to ``params`` in one
        fused kernel, and increments :attr:`iterations`. Builds for a single
        variable of ``len(params)`` elements when not built yet.
        """
        if not self.built:
            self.build([params.shape[0]])
        self._check_arena("params", params)
        self._check_arena("grads", grads)
        if len(self._sizes) == 0:  # no variables: a no-op, as in Keras
            return
        ops = backend.ops()
        if self.loss_scale_factor is not None:
            ops.scale_inplace(grads, 1.0 / self.loss_scale_factor)
        self._clip_gradients(ops, grads)
        lr = float(self.learning_rate)
        if self.weight_decay is not None and not self._fuses_weight_decay:
            ops.scale_inplace(
                params, float(np.float32(1) - np.float32(self.weight_decay) * np.float32(lr)))
        self.update_step(grads, params, lr)
        self.iterations += 1

    def _clip_gradients(self, ops, grads):
        # Same precedence and "> 0" tests as Keras's _clip_gradients.
        if self.clipnorm and self.clipnorm > 0:
            ops.clip_by_norm_segments(grads, self._offsets, float(self.clipnorm))
        elif self.global_clipnorm and self.global_clipnorm > 0:
            ops.clip_by_global_norm(grads, float(self.global_clipnorm))
        elif self.clipvalue and self.clipvalue > 0:
            ops.clip_by_value(grads, float(self.clipvalue))

    def _weight_decay_arg(self):
        return 0.0 if self.weight_decay is None else float(self.weight_decay)

    def update_step(self, gradient, variable, learning_rate):
        """Update the flat ``variable`` arena from ``gradient`` (subclasses)."""
        raise NotImplementedError

    def apply_gradients(self, grads_and_vars):
        """Keras's ``apply_gradients(zip(grads, variables))``; returns :attr:`iterations`."""
        pairs = list(grads_and_vars)
        if not pairs:
            return self.iterations
        grads, variables = zip(*pairs)
        return self.apply(grads, variables)

    def apply(self, grads, trainable_variables=None):
        """Keras's ``apply(grads, trainable_variables)``: one step on the variables.

        When the variables are a model's parameter arena, in its order, the step is
        the one fused kernel over it; other variables (or NumPy arrays) are packed
        into a flat buffer, stepped and written back. Pairs whose gradient is None
        (no gradient reached the variable) are left out, as Keras filters them.
        """
        grads = list(grads)
        if trainable_variables is None:
            raise ValueError("apply(): pass the `trainable_variables` the gradients are for.")
        variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(f"apply(): {len(grads)} gradients for {len(variables)} variables.")
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not pairs:
            return self.iterations
        grads, variables = [p[0] for p in pairs], [p[1] for p in pairs]
        arena = getattr(variables[0], "_arena", None)
        if arena is not None and arena.holds(variables):
            for g, v in zip(grads, variables):
                g = np.asarray(getattr(g, "value", g), dtype=np.float32)
                if g.shape != tuple(v.shape):
                    raise ValueError(f"apply(): a gradient of shape {g.shape} for variable "
                                     f"'{v.path}' of shape {tuple(v.shape)}.")
                if g is not v.grad:
                    v.grad[...] = g
            self.build(arena.shapes)
            self.step(arena.params, arena.grads)
            return self.iterations
        values = [np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float32)
                  for v in variables]
        self.build([v.shape for v in values])
        params = np.ascontiguousarray(
            np.concatenate([v.ravel() for v in values]), dtype=np.float32)
        flat_g = np.ascontiguousarray(np.concatenate(
            [np.asarray(getattr(g, "value", g), dtype=np.float32).ravel() for g in grads]),
            dtype=np.float32)
        self.step(params, flat_g)
        for k, var in enumerate(variables):
            new = params[self._offsets[k]:self._offsets[k + 1]].reshape(values[k].shape)
            if hasattr(var, "assign"):
                var.assign(new)
            else:
                var[...] = new
        return self.iterations

    def scale_loss(self, loss):
        """Multiply ``loss`` by ``loss_scale_factor`` when one is set."""
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def finalize_variable_values(self, var_list):
        """Keras calls this at the end of ``fit`` (EMA); a no-op here."""

    # ------------------------------------------------------------- state
    def _slot_groups(self):
        """Slot names in Keras's variable order: a list of groups; the slots
        of one group are interleaved per trainable variable (as Keras's
        ``add_optimizer_variables(var_list, [names])`` does)."""
        return [[name] for name in self._slots]

    @property
    def variables(self):
        """Keras's ``optimizer.variables`` order: iterations, learning rate
        (when not a schedule), then each slot, one view per trainable variable.
        The iterations/learning-rate entries are copies; the slot entries are
        live views into the flat slot arrays."""
        out = [np.array(self.iterations, dtype=np.int64)]
        if not callable(self._learning_rate):
            out.append(np.array(self._learning_rate, dtype=np.float32))
        for group in self._slot_groups():
            for k in range(len(self._sizes)):
                a, b = self._offsets[k], self._offsets[k + 1]
                for name in group:
                    out.append(self._slots[name][a:b].reshape(self._shapes[k]))
        return out

    def set_weights(self, weights):
        """Assign :attr:`variables` from a list of arrays in the same order."""
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet "
                "been built. Call `optimizer.build(sizes)` first.")
        current = self.variables
        if len(weights) != len(current):
            raise ValueError(
                f"Expected {len(current)} weights for optimizer {self.name!r}, "
                f"received {len(weights)}.")
        for k, (var, w) in enumerate(zip(current, weights)):
            w = np.asarray(w)
            if w.size != var.size:
                raise ValueError(
                    f"Optimizer variable {k} has shape {var.shape}, not compatible "
                    f"with provided weight shape {w.shape}.")
        self._assign_variables(weights)

    def _assign_variables(self, values):
        values = list(values)
        self.iterations = int(np.asarray(values[0]))
        i = 1
        if not callable(self._learning_rate):
            self._learning_rate = float(np.asarray(values[1]))
            i = 2
        for view, val in zip(self.variables[i:], values[i:]):
            view[...] = np.asarray(val, dtype=np.float32).reshape(view.shape)

    def get_weights(self):
        """Copies of :attr:`variables`."""
        return [np.array(v) for v in self.variables]

    def save_own_variables(self, store):
        """Keras's saving hook: ``store[str(i)] = variables[i]``."""
        for i, v in enumerate(self.variables):
            store[str(i)] = np.array(v)

    def load_own_variables(self, store):
        """Keras's loading hook (the inverse of :meth:`save_own_variables`)."""
        n = len(self.variables)
        if len(store.keys()) != n:
            msg = (f"Skipping variable loading for optimizer '{self.name}', "
                   f"because it has {n} variables whereas the saved optimizer "
                   f"has {len(store.keys())} variables. ")
            if not self.built:
                msg += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(msg, stacklevel=2)
            return
        self._assign_variables([store[str(i)] for i in range(n)])

    # ------------------------------------------------------------ config
    def get_config(self):
        lr = self._learning_rate
        if callable(lr):
            if hasattr(lr, "get_config"):
                lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = _deserialize_schedule(lr, custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r}>"


def _deserialize_schedule(config, custom_objects=None):
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name)
    if cls is None:
        try:
            from nbkeras.optimizers import schedules  # optional module
        except ImportError:
            schedules = None
        cls = getattr(schedules, name, None) if schedules is not None else None
    if cls is None:
        raise ValueError(
            f"Could not deserialize the learning rate schedule {name!r}: unknown "
            "class (pass it in `custom_objects`).")
    sub = config.get("config", {})
    return cls.from_config(sub) if hasattr(cls, "from_config") else cls(**sub)
