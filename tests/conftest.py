"""Every test runs with fixed seeds inside a forked RNG, so tests do not share randomness."""

import numpy as np
import pytest
import torch

# The suite's tensors are small: one intra-op thread avoids OpenMP wake-up costs that
# dominate small kernels (and stall badly when the machine is shared), and keeps results
# independent of the core count.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_validation_default():
    """torch.compile calls Distribution.set_default_validate_args(False) for the whole
    process; restore the default after every test so no test depends on the order."""
    default = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(default)


@pytest.fixture(autouse=True)
def _seed():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        np.random.seed(0)
        yield
