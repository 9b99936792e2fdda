"""Shared fixtures: the kernel sets of every available device, and hypothesis settings."""
import importlib
import os

import numpy as np
import pytest
from hypothesis import settings

def pytest_configure(config):
    """In CI (``NBKERAS_REQUIRE_PARITY=1``, set by .ci/run) the Keras parity tests must
    run: fail the session rather than let them skip."""
    if os.environ.get("NBKERAS_REQUIRE_PARITY") == "1":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        try:
            import keras  # noqa: F401
            import jax  # noqa: F401
        except ImportError as e:
            raise pytest.UsageError(f"NBKERAS_REQUIRE_PARITY=1 but the parity extra cannot be "
                                    f"imported ({e}); install it: pip install -e '.[parity]'")


settings.register_profile("nbkeras", max_examples=15, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "nbkeras"))


def _devices():
    devices = ["cpu"]
    try:
        cuda = importlib.import_module("nbkeras.kernels.cuda")
        if cuda.is_available():
            devices.append("cuda")
    except (ImportError, AttributeError):
        pass
    return devices


@pytest.fixture(params=_devices(), scope="session")
def ops(request):
    """The kernel namespace of one device (``nbkeras.kernels.cpu`` / ``.cuda``)."""
    return importlib.import_module(f"nbkeras.kernels.{request.param}")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# No background compile helper in the test session (its own tests turn it on).
os.environ.setdefault("NBKERAS_PREWARM", "0")
