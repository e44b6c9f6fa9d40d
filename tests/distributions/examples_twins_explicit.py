"""Registry entries for the explicit twins of torch families added for issue 15
(see registry.py for the fields)."""

import numpy as np
import scipy.stats as st
import torch.distributions as td

import reparam

from .examples_univariate import INF, NAN, _positive, expect_sin_cos


class _HalfCauchyGen(type(st.halfcauchy)):
    """scipy's halfcauchy, with an ``expect`` of sin/cos that converges: the body [0, 50γ]
    and the tail by ``expect_sin_cos``, as examples_univariate's Cauchy."""

    def expect(
        self, func=None, args=(), loc=0, scale=1, lb=None, ub=None, conditional=False, **kwds
    ):
        if func not in (np.sin, np.cos) or lb is not None or ub is not None or conditional:
            return super().expect(func, args, loc, scale, lb, ub, conditional, **kwds)

        def pdf(x):
            return self.pdf(x, loc=loc, scale=scale)

        hi = loc + 50.0 * scale
        return expect_sin_cos(pdf, func, loc, hi, kwds, limit=200, left=False)


_halfcauchy = _HalfCauchyGen(a=0.0, name="halfcauchy")


class _ContinuousBernoulliGen(st.rv_continuous):
    """Continuous Bernoulli on [0, 1] for scipy, which has none (shape ``lam`` = λ ≠ ½):
    pdf C(λ) λᶻ (1 − λ)¹⁻ᶻ with C(λ) = log(λ/(1 − λ))/(2λ − 1)."""

    def _argcheck(self, lam):
        return (lam > 0) & (lam < 1) & (lam != 0.5)

    def _logpdf(self, x, lam):
        log_c = np.log(np.abs(np.log(lam) - np.log1p(-lam))) - np.log(np.abs(2 * lam - 1))
        return log_c + x * np.log(lam) + (1 - x) * np.log1p(-lam)

    def _pdf(self, x, lam):
        return np.exp(self._logpdf(x, lam))

    def _cdf(self, x, lam):
        return (lam**x * (1 - lam) ** (1 - x) + lam - 1) / (2 * lam - 1)

    def _ppf(self, q, lam):
        return (np.log1p(-lam + q * (2 * lam - 1)) - np.log1p(-lam)) / (
            np.log(lam) - np.log1p(-lam)
        )


_continuous_bernoulli = _ContinuousBernoulliGen(a=0.0, b=1.0, name="continuous_bernoulli")


EXAMPLES = [
    # No mean or variance (torch: both +inf).
    dict(
        name="HalfCauchy",
        make=lambda scale, **kw: reparam.HalfCauchy(scale, **kw),
        params={"scale": [0.5, 1.0, 2.5]},
        scipy=lambda scale: _halfcauchy(scale=scale),
        moments=False,
        bad=_positive("scale"),
        # ∂/∂γ sin(γ t) = t cos(γ t) with t = tan(πu/2): infinite variance, so the generic
        # E[sin z] test cannot bound it; test_torch_parity checks ∂/∂γ E[exp(−z)] instead.
        extra={"quadrature_grad_params": ()},
    ),
    # α > 4 keeps the gradients in α of E[z²] of finite variance.
    dict(
        name="Pareto",
        make=lambda scale, alpha, **kw: reparam.Pareto(scale, alpha, **kw),
        params={"scale": [0.5, 1.0, 2.0], "alpha": [5.0, 6.0, 8.0]},
        scipy=lambda scale, alpha: st.pareto(alpha, scale=scale),
        # an infinite mean (α ≤ 1) and variance (α ≤ 2)
        param_sets=(("heavy", {"alpha": [0.5, 1.0, 2.0]}),),
        bad=(*_positive("scale"), *_positive("alpha", shape_error="scale")),
    ),
    # ξ = 0 (the exponential limit) and ξ < 0 (bounded support); ξ < ¼ keeps the gradients
    # of E[z²] of finite variance.
    dict(
        name="GeneralizedPareto",
        make=lambda loc, scale, concentration, **kw: reparam.GeneralizedPareto(
            loc, scale, concentration, **kw
        ),
        params={
            "loc": [0.3, -1.0, 2.0],
            "scale": [0.5, 1.0, 2.0],
            "concentration": [-0.3, 0.0, 0.15],
        },
        scipy=lambda loc, scale, concentration: st.genpareto(concentration, loc, scale),
        # an infinite mean (ξ ≥ 1) and variance (ξ ≥ ½)
        param_sets=(("heavy", {"concentration": [0.5, 1.0, 1.5]}),),
        # torch's GeneralizedPareto fails on float64 parameters (it compares them with a
        # float32 zero): the twin is built in float32, and compared to float32 accuracy
        reference=lambda loc, scale, concentration: td.GeneralizedPareto(
            loc.float(), scale.float(), concentration.float()
        ),
        extra={"reference_rtol": 1e-5},
        bad=(
            *_positive("scale"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
            ({"concentration": [0.0, INF, 0.0]}, r"'concentration'.*finite"),
            ({"concentration": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
    # λ away from ½ (there torch's Taylor forms are used: test_torch_parity.py).
    dict(
        name="ContinuousBernoulli",
        make=lambda probs, **kw: reparam.ContinuousBernoulli(probs=probs, **kw),
        params={"probs": [0.2, 0.7, 0.9]},
        scipy=lambda probs: _continuous_bernoulli(probs),
        # λ = ½ and around it, where torch switches to Taylor expansions
        param_sets=(("near-half", {"probs": [0.5, 0.499, 0.5001]}),),
        bad=(({"probs": [0.2, 1.5, 0.9]}, r"'probs'"), ({"probs": [NAN, 0.5, 0.9]}, r"'probs'")),
    ),
]
