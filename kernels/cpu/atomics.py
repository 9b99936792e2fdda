"""An atomic counter for kernels: threads take work pieces from it one at a time.

``take(counter)`` adds 1 to ``counter[0]`` and returns the value before, as one
atomic read-modify-write (LLVM's ``atomicrmw add``), so no two threads ever
get the same piece. Numba has no atomics on the CPU, so it is a small
intrinsic, like the register tile.
"""
from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def take(typingctx, counter):
    """counter[0] += 1 atomically, returning the old value (``counter``: int64[::1])."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, value=args[0])
        return builder.atomic_rmw("add", array.data, ir.Constant(ir.IntType(64), 1),
                                  "monotonic")

    return types.int64(counter), codegen
