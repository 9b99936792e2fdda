"""Models: ``Sequential`` and the functional ``Model``."""
from .model import Model
from .sequential import Sequential

Functional = Model
