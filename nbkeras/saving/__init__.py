"""Saving: Keras's config layout for every object, through one registry.

``serialize_keras_object`` / ``deserialize_keras_object`` write and read
``{"module", "class_name", "config", "registered_name"}`` dicts exactly as
Keras 3 does, so configs (and later ``.keras`` files) move both ways; custom
classes and functions are registered with ``register_keras_serializable`` or
passed as ``custom_objects``.
"""
from .registry import (CustomObjectScope, custom_object_scope, get_custom_objects,
                       get_registered_name, get_registered_object,
                       register_keras_serializable)
from .serialization import deserialize_keras_object, serialize_keras_object
