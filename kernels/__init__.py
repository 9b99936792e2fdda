"""Compute kernels of nbkeras: pure functions on arrays, one module per family.

`nbkeras.kernels.cpu` holds the @njit kernels; `nbkeras.kernels.cuda` (next) holds
their @cuda.jit twins with the same module names, function names and signatures.
Nothing here knows about layers, models or Keras.
"""
