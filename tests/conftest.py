"""Every test runs with fixed seeds inside a forked RNG, so tests do not share randomness."""

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        np.random.seed(0)
        yield
