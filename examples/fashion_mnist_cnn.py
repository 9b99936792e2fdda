"""The seed CNN (the classic Keras CIFAR-10 example) on Fashion-MNIST, 28x28x1.

Same layers and the same recipe Keras users run: pixels / 255, Adam with its
defaults, sparse categorical crossentropy, batch 32, 5 epochs, the test set as
validation data. Keras 3 on JAX reaches about 89.4% test accuracy with it.

The data comes from ``nbkeras.datasets.fashion_mnist.load_data()``: the Keras
cache (``$KERAS_HOME/datasets/fashion-mnist`` or ``~/.keras/datasets/fashion-mnist``),
then Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``),
else a download into the Keras cache.

    python examples/fashion_mnist_cnn.py [--epochs N] [--batch-size N]
"""
import argparse

import nbkeras as keras
from nbkeras import layers


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    return parser.parse_args(argv)


def build_model():
    return keras.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(0)

    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train = (x_train / 255.0).reshape(-1, 28, 28, 1)
    x_test = (x_test / 255.0).reshape(-1, 28, 28, 1)

    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_test, y_test))

    _, test_accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size)
    print(f"Test accuracy: {test_accuracy:.4f}")
    return test_accuracy


if __name__ == "__main__":
    main()
