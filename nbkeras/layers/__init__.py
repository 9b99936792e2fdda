"""Keras layers (``from nbkeras import layers`` / ``nbkeras.layers.Dense``)."""
from .layer import Layer
from ..engine.keras_tensor import KerasTensor
from .input_layer import Input, InputLayer
from .dense import Dense
from .conv2d import Conv2D
from .pooling import (MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
                      GlobalMaxPooling2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D,
                      GlobalMaxPool2D)
from .reshaping import Flatten, Reshape
from .activation import Activation
from .dropout import Dropout
from .identity import Identity
from .lambda_layer import Lambda
from .merging import (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
                      add, subtract, multiply, average, maximum, minimum, concatenate, dot)
from .normalization import BatchNormalization, LayerNormalization

Convolution2D = Conv2D
