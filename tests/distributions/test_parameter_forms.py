"""Every family takes its parameters in the forms torch's do: Python numbers, 0-d tensors,
a 2-D batch, and parameters of different batch shapes that broadcast.

Each form is built from the registry's parameters and compared, draw for draw, with the
same law built the plain way: a 0-d member with the first element of the batch, a 2-D
batch with its two rows, a broadcast with the explicitly expanded parameters
(``from_noise`` on the same ε, ``log_prob`` on the same z).
"""

from __future__ import annotations

import pytest
import torch

from reparam.distributions import SeedNoise

from .registry import EXAMPLES, Example
from .test_generic import build

F64 = torch.float64


def _batched(ex: Example) -> tuple[torch.Size, dict[str, torch.Tensor], set[str]]:
    """The default batch shape, the parameters, and the names of those that carry it."""
    q, ps = build(ex, requires_grad=False)
    batch = q.batch_shape
    names = {k for k, v in ps.items() if batch and v.shape[: len(batch)] == batch}
    return batch, ps, names


# the entries with batched parameters, built once at collection
BATCHED = [pytest.param(e, id=e.name) for e in EXAMPLES if _batched(e)[2]]


def _has_density(ex: Example) -> bool:
    return ex.extra.get("log_prob", True)


def _make(ex: Example, ps: dict):
    return ex.make(**ps, validate_args=True)


def _noise_like(q, n: int = 4) -> torch.Tensor:
    torch.manual_seed(0)
    return q.sample_noise((n,))


def _insert(t: torch.Tensor, at: int, batch: torch.Size) -> torch.Tensor:
    """``t`` with the dimensions ``batch`` inserted (expanded) before dimension ``at``."""
    shape = (*t.shape[:at], *([1] * len(batch)), *t.shape[at:])
    return t.reshape(shape).expand(*t.shape[:at], *batch, *t.shape[at:])


def _assert_same_law(small, big, index, density: bool = True) -> None:
    """``small``'s draws and log densities equal those of ``big`` at batch ``index``, on
    the same ε (repeated over ``big``'s batch)."""
    at = (slice(None), *index)
    if isinstance(small.noise, SeedNoise):  # ε is a seed of the whole batch's draw
        z = small.sample((4,))
        torch.testing.assert_close(
            small.log_prob(z), big.log_prob(_insert(z, 1, big.batch_shape))[at]
        )
        return
    eps = _noise_like(small)
    eps_big = _insert(eps, 1, big.batch_shape).clone()
    if not density:  # no log_prob (Stable): the draws only
        torch.testing.assert_close(small.from_noise(eps), big.from_noise(eps_big)[at])
        return
    z_small, lp_small = small.from_noise_and_log_prob(eps)
    z_big, lp_big = big.from_noise_and_log_prob(eps_big)
    torch.testing.assert_close(z_small, z_big[at])
    torch.testing.assert_close(lp_small, lp_big[at])
    torch.testing.assert_close(small.log_prob(z_small), big.log_prob(z_big)[at])


@pytest.mark.parametrize("ex", BATCHED)
def test_zero_dim_tensors(ex):
    batch, ps, names = _batched(ex)
    first = (0,) * len(batch)
    q0 = _make(ex, {k: v[first] if k in names else v for k, v in ps.items()})
    assert q0.batch_shape == torch.Size()
    _assert_same_law(q0, _make(ex, ps), first, _has_density(ex))


@pytest.mark.parametrize("ex", BATCHED)
def test_python_numbers(ex):
    batch, ps, names = _batched(ex)
    first = (0,) * len(batch)
    scalars = {k: v[first] if k in names else v for k, v in ps.items()}
    if any(v.dim() for v in scalars.values()):
        pytest.skip("a parameter has an event dimension: no Python number for it")
    if "built_from_distributions" in ex.extra:
        pytest.skip(ex.extra["built_from_distributions"])
    from_numbers = _make(ex, {k: float(v) for k, v in scalars.items()})
    from_tensors = _make(ex, {k: v.to(torch.get_default_dtype()) for k, v in scalars.items()})
    assert from_numbers.batch_shape == torch.Size()
    eps = _noise_like(from_tensors)
    z_n, z_t = from_numbers.from_noise(eps), from_tensors.from_noise(eps)
    assert z_n.dtype == torch.get_default_dtype()
    torch.testing.assert_close(z_n, z_t)
    if _has_density(ex):
        torch.testing.assert_close(from_numbers.log_prob(z_t), from_tensors.log_prob(z_t))


@pytest.mark.parametrize("ex", BATCHED)
def test_two_dim_batch(ex):
    batch, ps, names = _batched(ex)
    rolled = {k: v.roll(1, 0) if k in names else v for k, v in ps.items()}
    q2 = _make(ex, {k: torch.stack([v, rolled[k]]) if k in names else v for k, v in ps.items()})
    assert q2.batch_shape == torch.Size((2, *batch))
    first = (0,) * len(batch)
    for row, values in enumerate((ps, rolled)):
        q_row = _make(ex, {k: v[first] if k in names else v for k, v in values.items()})
        _assert_same_law(q_row, q2, (row, *first), _has_density(ex))


@pytest.mark.parametrize("ex", BATCHED)
def test_parameters_broadcast(ex):
    batch, ps, names = _batched(ex)
    if len(names) < 2:
        pytest.skip("one batched parameter: nothing to broadcast against")
    keep = sorted(names)[0]  # this one stays (*batch); the others get a leading 2
    mixed = {k: v if k == keep or k not in names else torch.stack([v, v]) for k, v in ps.items()}
    full = {k: torch.stack([v, v]) if k in names else v for k, v in ps.items()}
    q_mixed, q_full = _make(ex, mixed), _make(ex, full)
    assert q_mixed.batch_shape == q_full.batch_shape == torch.Size((2, *batch))
    eps = _noise_like(q_full)
    z_m, z_f = q_mixed.from_noise(eps), q_full.from_noise(eps)
    torch.testing.assert_close(z_m, z_f)
    if _has_density(ex):
        torch.testing.assert_close(q_mixed.log_prob(z_f), q_full.log_prob(z_f))
