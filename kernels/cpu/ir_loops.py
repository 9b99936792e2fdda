"""The loop the channel-vector intrinsics share, as LLVM IR.

``vector_maps.apply_map`` and ``window_max``'s two intrinsics each run their
body over channels c = 0, V, 2V, ... < count: the blocks, the counter's phi and
the branches are written here once.
"""
import llvmlite.ir as ir

from .tile import V

_I64 = ir.IntType(64)


def over_vectors(builder, count, emit, name):
    """Emit ``for c in range(0, count, V): emit(c)`` (``count`` an int64 multiple
    of V, possibly 0); ``emit`` builds the body from the channel index ``c`` and
    may add blocks of its own. The builder is left after the loop."""
    entry = builder.basic_block
    loop = builder.append_basic_block(name + ".loop")
    done = builder.append_basic_block(name + ".done")
    builder.cbranch(builder.icmp_signed(">", count, ir.Constant(_I64, 0)), loop, done)
    builder.position_at_end(loop)
    c = builder.phi(_I64)
    c.add_incoming(ir.Constant(_I64, 0), entry)
    emit(c)
    c_next = builder.add(c, ir.Constant(_I64, V))
    c.add_incoming(c_next, builder.basic_block)
    builder.cbranch(builder.icmp_signed("<", c_next, count), loop, done)
    builder.position_at_end(done)
