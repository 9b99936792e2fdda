"""Beyond Sequential: the model kinds Keras users write, on real data.

    python examples/beyond_sequential.py

Data: scikit-learn's 8x8 digits (1,797 real images, shipped in its wheel).
1. a functional model with two inputs (each image's top and bottom halves),
   two outputs, a shared encoder, merge layers, BatchNormalization and
   per-output losses, weights and metrics;
2. a subclassed model of custom layers written with ``keras.ops`` (no backward
   pass written) and a custom loss;
3. a custom ``train_step`` with ``GradientTape``;
4. nesting and feature extraction.
Only the import line differs from a Keras 3 script.
"""
import numpy as np
from sklearn.datasets import load_digits

import nbkeras as keras
from nbkeras import layers, ops

keras.utils.set_random_seed(0)
digits = load_digits()
images = (digits.images / 16.0).astype("float32")
labels = digits.target
top, bottom = images[:, :4].reshape(-1, 32), images[:, 4:].reshape(-1, 32)
is_even = (labels % 2 == 0).astype("float32")

# 1. functional: two inputs, two outputs, a shared layer, merges, per-output losses
top_in, bottom_in = keras.Input((32,), name="top"), keras.Input((32,), name="bottom")
encoder = layers.Dense(64, activation="relu", name="encoder")  # shared by both halves
x = layers.concatenate([encoder(top_in), encoder(bottom_in)])
x = layers.BatchNormalization()(x)
even = layers.Dense(1, activation="sigmoid", name="even")(x)
digit = layers.Dense(10, activation="softmax", name="digit")(x)
model = keras.Model([top_in, bottom_in], [even, digit])
model.compile(optimizer="rmsprop",
              loss={"even": "binary_crossentropy", "digit": "sparse_categorical_crossentropy"},
              loss_weights={"even": 0.5, "digit": 1.0},
              metrics={"even": ["accuracy"], "digit": [keras.metrics.SparseCategoricalAccuracy()]})
model.fit({"top": top, "bottom": bottom}, {"even": is_even, "digit": labels}, epochs=8,
          validation_split=0.2, verbose=2)
logs = model.evaluate([top, bottom], [is_even, labels], return_dict=True, verbose=0)
print("two-tower:", {k: round(v, 4) for k, v in logs.items()})


# 2. custom layers with ops, a subclassed model and a custom loss
class Linear(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class MLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden, self.out, self.drop = Linear(64), Linear(10), layers.Dropout(0.1)

    def call(self, x, training=False):
        return ops.softmax(self.out(self.drop(ops.relu(self.hidden(x)), training=training)))


def smoothed_crossentropy(y_true, y_pred):
    """Crossentropy against labels smoothed by 0.1, written with ops."""
    target = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), 10) * 0.9 + 0.01
    return -ops.sum(target * ops.log(ops.clip(y_pred, 1e-7, 1.0)), axis=-1)


flat = images.reshape(-1, 64)
mlp = MLP()
mlp.compile(optimizer=keras.optimizers.Adam(1e-2), loss=smoothed_crossentropy,
            metrics=["sparse_categorical_accuracy"])
mlp.fit(flat, labels, epochs=10, validation_split=0.2, verbose=0)
mlp.summary()
print("subclassed MLP:", mlp.evaluate(flat, labels, return_dict=True, verbose=0))


# 3. a custom training step, TensorFlow-Keras style
class TapeModel(keras.Sequential):
    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        for metric in self.metrics:  # as Keras's guide does: fit reports these
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


tape_model = TapeModel([keras.Input((64,)), layers.Dense(32, activation="relu"),
                        layers.Dense(10, activation="softmax")])
tape_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
history = tape_model.fit(flat, labels, epochs=5, verbose=0)
print("custom train_step:", {k: round(v[-1], 4) for k, v in history.history.items()})

# 4. nesting and feature extraction
base = keras.Sequential([layers.Conv2D(8, 3, activation="relu", name="conv1"),
                         layers.Conv2D(8, 3, activation="relu", name="conv2"),
                         layers.Flatten()], name="base")
inp = keras.Input((8, 8, 1))
nested = keras.Model(inp, layers.Dense(10, activation="softmax")(base(inp)))
nested.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
nested.fit(images[..., None], labels, epochs=3, verbose=0)
features = keras.Model(nested.inputs, nested.get_layer("base").output)
print("nested CNN:", nested.evaluate(images[..., None], labels, return_dict=True, verbose=0),
      "features:", features.predict(images[:4, ..., None], verbose=0).shape)
