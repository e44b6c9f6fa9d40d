"""Registry entries for MixtureSameFamily (see registry.py for the fields).

The univariate entry takes one scalar-per-batch-element parameter per component
(``logit0..2``, ``loc0..2``, ``scale0..2``, each of batch shape (2,)) and stacks them
into the mixture's (2, K) parameters, so that the generic per-element tests (KS,
quadrature of E[sin z]) can flatten them like any univariate family's; its scipy-like
reference is :class:`NormalMixtureRef`.
"""

import numpy as np
import scipy.stats as st
import torch
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax

import reparam

NAN = float("nan")


class NormalMixtureRef:
    """A frozen-scipy-like Σ_k w_k N(loc_k, scale_k²), w = softmax(logits), in float64.

    Parameters are arrays with the components in the last axis (batch in front); the
    methods broadcast ``x`` against the batch like scipy's frozen distributions.
    ``expect`` and ``entropy`` need a scalar batch.
    """

    def __init__(self, logits, loc, scale):
        logits, loc, scale = np.broadcast_arrays(
            *(np.asarray(a, dtype=np.float64) for a in (logits, loc, scale))
        )
        self.log_w = logits - logsumexp(logits, axis=-1, keepdims=True)
        self.w = softmax(logits, axis=-1)
        self.loc, self.scale = loc, scale

    def _components(self):
        return st.norm(self.loc, self.scale)

    def cdf(self, x):
        x = np.asarray(x, dtype=np.float64)[..., None]
        return (self.w * st.norm.cdf(x, self.loc, self.scale)).sum(-1)

    def logpdf(self, x):
        x = np.asarray(x, dtype=np.float64)[..., None]
        return logsumexp(self.log_w + st.norm.logpdf(x, self.loc, self.scale), axis=-1)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def mean(self):
        return (self.w * self.loc).sum(-1)

    def var(self):
        second = (self.w * (self.scale**2 + self.loc**2)).sum(-1)
        return second - self.mean() ** 2

    def ppf(self, u):
        """Quantile by Brent's method on [min_k F_k⁻¹(u), max_k F_k⁻¹(u)] (float64)."""
        u = np.asarray(u, dtype=np.float64)
        shape = np.broadcast_shapes(u.shape, self.loc.shape[:-1])
        u = np.broadcast_to(u, shape)
        out = np.empty(shape)
        for idx in np.ndindex(*shape):
            b = idx[len(shape) - (self.loc.ndim - 1) :]
            w, loc, scale = self.w[b], self.loc[b], self.scale[b]
            q = st.norm.ppf(u[idx], loc, scale)
            lo, hi = q.min(), q.max()
            if lo == hi:
                out[idx] = lo
                continue
            lo, hi = lo - 1e-9 * (1 + abs(lo)), hi + 1e-9 * (1 + abs(hi))  # rounding slack
            target = u[idx]

            def g(z, w=w, loc=loc, scale=scale, target=target):
                return (w * st.norm.cdf(z, loc, scale)).sum() - target

            out[idx] = brentq(g, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
        return out[()]

    def expect(self, func, **kwds):
        """E[func(z)] = Σ_k w_k E_k[func] by scipy's quadrature per component."""
        if self.loc.ndim != 1:
            raise ValueError("NormalMixtureRef.expect needs a scalar batch")
        parts = [
            st.norm(m, s).expect(func, **kwds) for m, s in zip(self.loc, self.scale, strict=True)
        ]
        return float(np.dot(self.w, parts))

    def entropy(self):
        if self.loc.ndim != 1:
            raise ValueError("NormalMixtureRef.entropy needs a scalar batch")
        lo = (self.loc - 40 * self.scale).min()
        hi = (self.loc + 40 * self.scale).max()
        return -quad(lambda x: self.pdf(x) * self.logpdf(x), lo, hi, limit=500)[0]


def _stack(*parts):
    return torch.stack(torch.broadcast_tensors(*parts), -1)


def _normal_mixture(
    logit0, logit1, logit2, loc0, loc1, loc2, scale0, scale1, scale2, validate_args=None
):
    mix = torch.distributions.Categorical(
        logits=_stack(logit0, logit1, logit2), validate_args=validate_args
    )
    comp = reparam.Normal(
        _stack(loc0, loc1, loc2), _stack(scale0, scale1, scale2), validate_args=validate_args
    )
    return reparam.MixtureSameFamily(mix, comp, validate_args=validate_args)


def _normal_mixture_scipy(logit0, logit1, logit2, loc0, loc1, loc2, scale0, scale1, scale2):
    def stack(*a):
        return np.stack(np.broadcast_arrays(*a), -1)

    return NormalMixtureRef(
        stack(logit0, logit1, logit2), stack(loc0, loc1, loc2), stack(scale0, scale1, scale2)
    )


def _independent_mixture(logits, loc, scale, validate_args=None):
    mix = torch.distributions.Categorical(logits=logits, validate_args=validate_args)
    comp = reparam.Independent(reparam.Normal(loc, scale, validate_args=validate_args), 1)
    return reparam.MixtureSameFamily(mix, comp, validate_args=validate_args)


def _diagonal_normal_mixture(logits, loc, scale, validate_args=None):
    mix = torch.distributions.Categorical(logits=logits, validate_args=validate_args)
    comp = reparam.DiagonalNormal(loc, scale, validate_args=validate_args)
    return reparam.MixtureSameFamily(mix, comp, validate_args=validate_args)


EXAMPLES: list = [
    {
        # batch element 0: three well-separated components; element 1: overlapping ones
        "name": "MixtureSameFamily-normal",
        "make": _normal_mixture,
        "extra": {
            "built_from_distributions": "MixtureSameFamily takes distributions: the "
            "registry's numbers are the components' parameters, stacked by the entry"
        },
        "params": {
            "logit0": [0.3, 0.0],
            "logit1": [-0.2, 0.5],
            "logit2": [0.1, -1.0],
            "loc0": [-4.0, -0.5],
            "loc1": [0.0, 0.3],
            "loc2": [5.0, 1.0],
            "scale0": [0.5, 1.0],
            "scale1": [1.0, 0.7],
            "scale2": [2.0, 1.5],
        },
        "scipy": _normal_mixture_scipy,
        "bad": (
            ({"scale1": [-1.0, 1.0]}, "scale"),
            ({"loc2": [NAN, 0.0]}, "loc"),
            ({"logit0": [NAN, 0.0]}, "logits"),
        ),
    },
    {
        # K = 2 components over vectors of D = 3 independent coordinates (Graves 2016)
        "name": "MixtureSameFamily-independent-normal",
        "make": _independent_mixture,
        "params": {
            "logits": [0.2, -0.4],
            "loc": [[-1.0, 0.5, 2.0], [1.5, -0.5, 0.0]],
            "scale": [[0.5, 1.0, 0.8], [1.2, 0.6, 1.0]],
        },
        "bad": (
            ({"scale": [[0.5, -1.0, 0.8], [1.2, 0.6, 1.0]]}, "scale"),
            ({"logits": [NAN, 0.0]}, "logits"),
        ),
    },
    {
        # batch (2,), K = 2, D = 2, DiagonalNormal components
        "name": "MixtureSameFamily-diagonal-normal",
        "make": _diagonal_normal_mixture,
        "params": {
            "logits": [[0.0, 0.5], [1.0, -1.0]],
            "loc": [[[-2.0, 1.0], [2.0, 0.0]], [[0.0, 0.5], [0.3, -0.2]]],
            "scale": [[[0.7, 1.0], [1.0, 0.5]], [[1.0, 1.2], [0.8, 2.0]]],
        },
        "bad": (({"scale": [[[0.7, 1.0], [1.0, 0.0]], [[1.0, 1.2], [0.8, 2.0]]]}, "scale"),),
    },
]
