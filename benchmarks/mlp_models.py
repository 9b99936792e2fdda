"""The MLP 784-256-256-10 twice: from Dense layers, and from a custom ``Linear``
layer written with ``ops.matmul(x, w) + b`` and ``ops.relu`` (no backward pass
written). The model-core benchmarks compare their training speed."""
import nbkeras as keras
from nbkeras import layers, ops


class Linear(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units))
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class CustomMLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = Linear(256), Linear(256), Linear(10)

    def call(self, x):
        return ops.softmax(self.l3(ops.relu(self.l2(ops.relu(self.l1(x))))))


def dense_mlp():
    return keras.Sequential([keras.Input((784,)), layers.Dense(256, activation="relu"),
                             layers.Dense(256, activation="relu"),
                             layers.Dense(10, activation="softmax")])


def compiled(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model
