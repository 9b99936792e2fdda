"""Constructor options shared by the layers that own a kernel and a bias (Dense, Conv2D)."""
from .. import activations, initializers


def set_kernel_options(layer, activation, use_bias, kernel_initializer, bias_initializer,
                       **unsupported):
    """Check and store the activation, bias and initializer options on ``layer``.

    Unknown activation or initializer names fail here, in the constructor, as in
    Keras (an initializer may be a name, an instance or its serialized config);
    options accepted for Keras compatibility but not implemented
    (regularizers, constraints) must be None.
    """
    layer._keep_unsupported(**unsupported)
    layer.activation = activations.get(activation)
    layer.use_bias = use_bias
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
