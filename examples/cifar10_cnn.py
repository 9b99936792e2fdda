"""The classic Keras CIFAR-10 CNN, unchanged except for the imports.

CIFAR-10 is found or downloaded by Keras's rules: ``load_data()`` first reads
an existing Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``, in
Keras 3's ``cifar-10-batches-py-target/`` or Keras 2's ``cifar-10-batches-py/``
layout), and otherwise downloads ``cifar-10-python.tar.gz`` into that cache.
"""
from nbkeras.datasets import cifar10
from nbkeras.models import Sequential
from nbkeras.layers import Conv2D, MaxPooling2D, Flatten, Dense

(x_train, y_train), (x_test, y_test) = cifar10.load_data()
x_train = x_train / 255.0
x_test = x_test / 255.0
model = Sequential([
    Conv2D(32, (3, 3), activation='relu', input_shape=(32, 32, 3)),
    MaxPooling2D((2, 2)),
    Conv2D(64, (3, 3), activation='relu'),
    MaxPooling2D((2, 2)),
    Conv2D(64, (3, 3), activation='relu'),
    Flatten(),
    Dense(64, activation='relu'),
    Dense(10, activation='softmax')
])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(x_train, y_train, epochs=10, validation_data=(x_test, y_test))
