"""Integer codes for element-wise activations, shared by the CPU and CUDA kernels.

One kernel handles every activation by switching on its code, so adding an
activation means one new case, not one new kernel.
"""
LINEAR = 0
RELU = 1
SIGMOID = 2
TANH = 3
LEAKY_RELU = 4
ELU = 5
SELU = 6
GELU = 7
SILU = 8
SOFTPLUS = 9
SOFTSIGN = 10
HARD_SIGMOID = 11
EXPONENTIAL = 12

ACTIVATION_CODES = {
    "linear": LINEAR, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH,
    "leaky_relu": LEAKY_RELU, "elu": ELU, "selu": SELU, "gelu": GELU,
    "silu": SILU, "swish": SILU, "softplus": SOFTPLUS, "softsign": SOFTSIGN,
    "hard_sigmoid": HARD_SIGMOID, "exponential": EXPONENTIAL,
}

# Activations whose derivative the kernels compute from the output alone (ReLU:
# y > 0 exactly when x > 0): their output may overwrite the pre-activation,
# which saves a buffer and a pass over memory per layer.
DERIVATIVE_FROM_OUTPUT = frozenset({RELU, SIGMOID, TANH, EXPONENTIAL})

# What a crossentropy kernel receives and which gradient it returns.
FROM_PROBS = 0      # probabilities in, gradient w.r.t. the probabilities out
FROM_LOGITS = 1     # logits in, gradient w.r.t. the logits out
FUSED_OUTPUT = 2    # probabilities from the final softmax/sigmoid in, gradient
                    # w.r.t. that activation's input out (one pass, same numbers)

# Regression losses.
MEAN_SQUARED_ERROR = 0
MEAN_ABSOLUTE_ERROR = 1
HUBER = 2
