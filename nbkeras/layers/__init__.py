"""Keras layers (``from nbkeras import layers`` / ``nbkeras.layers.Dense``)."""
from .layer import Layer
from .input_layer import Input, InputLayer, KerasTensor
from .dense import Dense
from .conv2d import Conv2D
from .pooling import (MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
                      GlobalMaxPooling2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D,
                      GlobalMaxPool2D)
from .reshaping import Flatten, Reshape
from .activation import Activation
from .dropout import Dropout

Convolution2D = Conv2D
