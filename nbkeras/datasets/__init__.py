"""Keras-compatible dataset loaders: ``mnist``, ``fashion_mnist``, ``cifar10``."""

from nbkeras.datasets import cifar10, fashion_mnist, mnist

__all__ = ["cifar10", "fashion_mnist", "mnist"]
