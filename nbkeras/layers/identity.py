"""Identity: returns its input unchanged (a placeholder layer, as in Keras)."""
from .layer import Layer


class Identity(Layer):
    _built_at_init = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape
