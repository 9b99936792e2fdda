"""Calling a compiled kernel through its address, so its code is not compiled
again inside the caller.

Numba links the code of every kernel a kernel calls into the caller's module
and optimises and translates the whole module again (LLVM inlines the callee
at each call site): the GEMM's tile code was compiled once more for every
kernel that called it, and took about 7 of the product entry's 13 s of
compiling. A call through a function pointer links nothing: the callee is
compiled once, for one signature, and the caller only holds a pointer to it.

The address is only known in the running process, so it is an argument of the
caller (a cached caller cannot keep it as a constant): ``address_of`` gives it
on the host, ``function_at(signature)`` makes the intrinsic that turns it into
a callable inside a kernel. The call follows Numba's own calling convention,
arrays included; one indirect call costs nanoseconds.
"""
import functools

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@functools.lru_cache(maxsize=None)
def address_of(dispatcher, signature):
    """The address of ``dispatcher`` compiled for ``signature`` (compiling it, or
    loading it from the cache, the first time)."""
    dispatcher.compile(signature.args)
    result = dispatcher.overloads[signature.args]
    return result.library.get_pointer_to_function(result.fndesc.llvm_func_name)


def function_at(signature):
    """An intrinsic ``f = at(address)``: ``f(...)`` calls the kernel compiled for
    ``signature`` at ``address`` (an int64 from :func:`address_of`)."""
    function_type = types.FunctionType(signature)

    @intrinsic
    def at(typingctx, address):
        if not isinstance(address, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            value = cgutils.create_struct_proxy(function_type)(context, builder)
            null = context.get_constant_null(types.voidptr)
            value.c_addr = null    # (no C wrapper, no Python object: only
            value.py_addr = null   #  the Numba-convention entry is called)
            value.jit_addr = builder.inttoptr(args[0], ir.IntType(8).as_pointer())
            return value._getvalue()

        return function_type(address), codegen

    return at
