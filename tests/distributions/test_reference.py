"""Every family with a torch.distributions twin against that twin, method by method.

For each registry entry (and each of its parameter sets) with a reference (``reference=``,
or the twin :func:`~reparam.distributions.kl.to_torch` rebuilds from the same tensors),
every method both implement must agree: log_prob, cdf, icdf, mean, mode, variance,
stddev, entropy, the support, ``expand`` and the KL divergence to a second member of the
family. A method the twin has and reparam lacks is a failure, not a skip.

An entry's ``extra`` may say where reparam departs from torch on purpose:
``reference_deviations`` (``method`` or ``set:method`` → why; the test then checks that
the two still differ, so a stale entry fails), ``reference_rtol`` (torch's own accuracy,
e.g. a polynomial approximation) and ``no_reference`` (why the twin cannot hold these
parameters).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.distributions import Distribution, kl_divergence

from reparam.distributions.kl import to_torch

from .registry import EXAMPLES, Example, parameter_sets
from .test_generic import build

METHODS = (
    "log_prob",
    "cdf",
    "icdf",
    "mean",
    "mode",
    "variance",
    "stddev",
    "entropy",
    "support",
    "expand",
    "kl",
)


def _pair(ex: Example, values: dict, *, roll: bool = False) -> tuple[Distribution, Distribution]:
    """(reparam's distribution, its twin) on the parameters ``values`` (float64); ``roll``
    shifts every batched parameter by one along its first dimension (a second member)."""
    if roll:
        values = {k: _rolled(v) for k, v in values.items()}
    q, ps = build(ex, requires_grad=False, overrides=values)
    ref = ex.reference(**ps) if ex.reference is not None else to_torch(q)
    return q, ref


def _rolled(v):
    t = torch.as_tensor(v)
    return t.roll(1, 0).tolist() if t.dim() else v


def _has_reference(ex: Example) -> bool:
    if "no_reference" in ex.extra:
        return False
    q, ref = _pair(ex, ex.params)
    return ref is not q


def _cases() -> list:
    out = []
    for ex in EXAMPLES:
        if not _has_reference(ex):
            continue
        for set_id, values in parameter_sets(ex):
            for method in METHODS:
                case = (ex, set_id, values, method)
                out.append(pytest.param(*case, id=f"{ex.name}-{set_id}-{method}"))
    return out


def _call(d: Distribution, name: str, *args):
    """``d.name(*args)`` (or the property), or None where ``d`` does not implement it."""
    try:
        attr = getattr(d, name)
        return attr(*args) if callable(attr) else attr
    except NotImplementedError:
        return None


def _compare(ours, ref, what: str, rtol: float = 1e-8) -> None:
    if ref is None:
        pytest.skip(f"torch's twin has no {what}")
    assert ours is not None, f"{what}: torch's twin has it, reparam does not"
    assert ours.shape == ref.shape, what
    torch.testing.assert_close(ours, ref.to(ours.dtype), rtol=rtol, atol=1e-10,
                               equal_nan=True, msg=what)  # fmt: skip


def _probes(q: Distribution, ref: Distribution, ends: bool = False) -> torch.Tensor:
    """Values in the support (draws of both) and, for a scalar event, values around it
    (with ``ends``, 0 and 1 too: the ends of the supports [0, inf) and [0, 1])."""
    torch.manual_seed(0)
    with warnings.catch_warnings():  # torch 2.13's Wishart warns "singular" on every draw
        warnings.simplefilter("ignore", UserWarning)
        theirs = ref.sample((4,)).to(torch.float64)
    draws = torch.cat([q.sample((4,)), theirs])
    if q.event_shape:
        return draws
    # not the ends of a closed support ([0, 1]): torch gives NaN or a clamped value there
    edges = torch.tensor([-1e3, -1.0, 0.25, 0.5, 1.5, 1e3, *((0.0, 1.0) if ends else ())],
                         dtype=torch.float64)  # fmt: skip
    return torch.cat(
        [draws, edges.reshape(-1, *([1] * len(q.batch_shape))).expand(-1, *q.batch_shape)]
    )


@pytest.mark.parametrize(("ex", "set_id", "values", "method"), _cases())
def test_matches_the_torch_twin(ex, set_id, values, method):
    deviations = ex.extra.get("reference_deviations", {})
    deviation = deviations.get(f"{set_id}:{method}", deviations.get(method))
    if deviation is None:
        _check(ex, values, method, ex.extra.get("reference_rtol", 1e-8))
        return
    with pytest.raises(AssertionError):  # still differs; else drop the deviation
        _check(ex, values, method, 1e-8)


def _check(ex: Example, values: dict, method: str, rtol: float) -> None:
    q, ref = _pair(ex, values)
    if method in ("mean", "mode", "variance", "stddev", "entropy"):
        _compare(_call(q, method), _call(ref, method), method, rtol)
    elif method == "log_prob":
        z = _probes(q, ref)
        if not q.event_shape:  # the points around the support: a draw where outside
            z = torch.where(ref.support.check(z), z, q.sample((z.shape[0],)))
        _compare(q.log_prob(z), ref.log_prob(z), "log_prob", rtol)
    elif method == "cdf":
        z = q.sample((6,))
        _compare(_call(q, "cdf", z), _call(ref, "cdf", z), "cdf", rtol)
    elif method == "icdf":
        u = torch.tensor([1e-6, 0.1, 0.5, 0.9, 1 - 1e-6], dtype=torch.float64)
        u = u.reshape(-1, *([1] * len(q.batch_shape))).expand(-1, *q.batch_shape)
        _compare(_call(q, "icdf", u), _call(ref, "icdf", u), "icdf", rtol)
    elif method == "support":
        z = _probes(q, ref, ends=True)
        assert q.support.event_dim == ref.support.event_dim
        assert torch.equal(q.support.check(z), ref.support.check(z))
    elif method == "expand":
        shape = torch.Size((2,)) + q.batch_shape
        big, big_ref = q.expand(shape), ref.expand(shape)
        assert type(big) is type(q)
        assert big.batch_shape == big_ref.batch_shape == shape
        z = big.sample()
        _compare(big.log_prob(z), big_ref.log_prob(z), "expand: log_prob", rtol)
        _compare(_call(big, "mean"), _call(big_ref, "mean"), "expand: mean", rtol)
    else:  # kl
        q2, ref2 = _pair(ex, values, roll=True)
        try:
            want = kl_divergence(ref, ref2)
        except NotImplementedError:
            pytest.skip("torch registers no KL for the twin")
        _compare(kl_divergence(q, q2), want, "kl", rtol)


def test_every_same_named_family_has_its_torch_counterpart():
    """to_torch (the reference above, and torch's KL pairs) covers every family of the
    table of same-named families, so no twin drops out of the comparison unnoticed."""
    from reparam.distributions._counterparts import TORCH_ARGUMENTS
    from reparam.distributions.kl import _COUNTERPARTS

    covered = {cls.__name__ for cls in _COUNTERPARTS}
    # Logistic: no torch class of that name; MixtureSameFamily: its components stay reparam's
    assert set(TORCH_ARGUMENTS) - covered == {"Logistic", "MixtureSameFamily"}
