"""2-D toy data: shapes, seeds; the target names re-exported from reparam.vi.targets."""

import pytest
import torch

from reparam.data import toy2d
from reparam.data.toy2d import TOY_DATA, sample_toy
from reparam.vi import targets


@pytest.mark.parametrize("name", TOY_DATA)
def test_toy_shapes_and_range(name):
    x = sample_toy(name, 500, generator=torch.Generator().manual_seed(0))
    assert x.shape == (500, 2)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.abs().max() < 6.0  # "roughly [-4, 4]": only noise tails leave the box
    assert x.std(0).min() > 0.5  # not collapsed


@pytest.mark.parametrize("name", TOY_DATA)
def test_toy_seeds_reproducible(name):
    a = sample_toy(name, 100, generator=torch.Generator().manual_seed(3))
    b = sample_toy(name, 100, generator=torch.Generator().manual_seed(3))
    c = sample_toy(name, 100, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_toy_bad_input():
    with pytest.raises(ValueError, match="unknown toy data set 'blobs'"):
        sample_toy("blobs", 10)
    with pytest.raises(ValueError, match="n must be"):
        sample_toy("moons", 0)


def test_target_names_still_importable_from_toy2d():
    for name in ("TARGETS", "target_log_prob", "target_bounds", "target_log_normalizer",
                 "log_normalizer_2d"):  # fmt: skip
        with pytest.warns(DeprecationWarning, match=f"reparam.vi.targets.{name}"):
            assert getattr(toy2d, name) is getattr(targets, name)
