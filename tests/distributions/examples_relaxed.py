"""Registry entries for RelaxedBernoulli and RelaxedOneHotCategorical (fields: registry.py).

RelaxedBernoulli gets a scipy reference (scipy has none): t = logit(z) is
Logistic(ℓ/λ, 1/λ), so P(z ≤ s) = σ(λ logit(s) − ℓ), and expectations are integrated in t,
where the integrand is smooth and the density has exponential tails (in z it can have
integrable endpoint singularities z^{λ−1}). The hard (straight-through) forms have no
entries: their samples are not the relaxed variable whose density log_prob gives, so the
generic log-density and gradient tests do not apply (test_relaxed.py tests them).
"""

import math

import numpy as np
import scipy.stats as st
from scipy.integrate import quad
from scipy.special import expit, log_expit, logit

import reparam

NAN, INF = float("nan"), float("inf")


class _RelaxedBernoulliGen(st.rv_continuous):
    """Binary Concrete on (0, 1) with shapes ``temperature`` (λ) and ``logits`` (ℓ)."""

    def _argcheck(self, temperature, logits):
        return (temperature > 0) & np.isfinite(temperature) & np.isfinite(logits)

    def _logpdf(self, x, temperature, logits):
        # density of t = logit(x): λ e^{w} / (1 + e^{w})² with w = ℓ − λ t, times dt/dx.
        t = np.log(x) - np.log1p(-x)
        w = np.abs(logits - temperature * t)
        return np.log(temperature) - w - 2 * np.log1p(np.exp(-w)) - np.log(x) - np.log1p(-x)

    def _pdf(self, x, temperature, logits):
        return np.exp(self._logpdf(x, temperature, logits))

    def _cdf(self, x, temperature, logits):
        return expit(temperature * logit(x) - logits)

    def _sf(self, x, temperature, logits):
        return expit(logits - temperature * logit(x))

    def _ppf(self, q, temperature, logits):
        return expit((logits + logit(q)) / temperature)

    def expect(
        self, func=None, args=(), loc=0, scale=1, lb=None, ub=None, conditional=False, **kwds
    ):
        """E[func(z)] = ∫ func(σ(t)) λ e^{w}/(1 + e^{w})² dt (w = ℓ − λt), split at the mode."""
        if func is None or lb is not None or ub is not None or conditional or loc != 0:
            return super().expect(func, args, loc, scale, lb, ub, conditional, **kwds)
        if scale != 1:
            return super().expect(func, args, loc, scale, lb, ub, conditional, **kwds)
        temperature, logits = (float(a) for a in args)
        mode = logits / temperature

        def integrand(t):
            w = -abs(logits - temperature * t)
            return func(expit(t)) * temperature * math.exp(w + 2 * log_expit(-w))

        opts = {k: kwds[k] for k in ("epsabs", "epsrel", "limit") if k in kwds}
        left = quad(integrand, -np.inf, mode, **opts)[0]
        right = quad(integrand, mode, np.inf, **opts)[0]
        return np.array(left + right)[()]


relaxed_bernoulli = _RelaxedBernoulliGen(a=0.0, b=1.0, name="relaxed_bernoulli")


EXAMPLES = [
    dict(
        name="RelaxedBernoulli",
        make=lambda temperature, logits=None, probs=None, **kw: reparam.RelaxedBernoulli(
            temperature, probs=probs, logits=logits, **kw
        ),
        params={"temperature": [0.5, 1.0, 2.5], "logits": [-1.0, 0.3, 2.0]},
        scipy=lambda temperature, logits: relaxed_bernoulli(temperature, logits),
        moments=False,
        bad=(
            ({"temperature": [1.0, -1.0, 1.0]}, r"'temperature'.*> 0"),
            ({"temperature": [1.0, 0.0, 1.0]}, r"'temperature'.*> 0"),
            ({"temperature": [NAN, 1.0, 1.0]}, r"'temperature'.*finite"),
            ({"temperature": [INF, 1.0, 1.0]}, r"'temperature'.*finite"),
            ({"logits": [NAN, 0.0, 0.0]}, r"'logits'.*finite"),
            ({"probs": [0.5, 0.5, 0.5]}, r"exactly one of `probs` or `logits`; got both"),
            ({"logits": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
    dict(
        name="RelaxedOneHotCategorical",
        make=lambda temperature, logits=None, probs=None, **kw: reparam.RelaxedOneHotCategorical(
            temperature, probs=probs, logits=logits, **kw
        ),
        params={
            "temperature": [0.5, 2.0],
            "logits": [[0.2, -1.0, 0.5], [1.5, 0.0, -0.7]],
        },
        moments=False,
        extra={
            "no_reference": "torch's RelaxedOneHotCategorical takes one temperature for the "
            "whole batch (its log_prob does not broadcast a batch of them)"
        },
        bad=(
            ({"temperature": [1.0, -1.0]}, r"'temperature'.*> 0"),
            ({"temperature": [0.0, 1.0]}, r"'temperature'.*> 0"),
            ({"temperature": [NAN, 1.0]}, r"'temperature'.*finite"),
            ({"temperature": [1.0, INF]}, r"'temperature'.*finite"),
            ({"logits": [[NAN, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'logits'.*finite"),
            ({"probs": [[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]}, r"exactly one of .*got both"),
            ({"logits": 0.5}, r"'logits'.*K >= 2"),
            ({"logits": [[0.0], [1.0]]}, r"'logits'.*K >= 2"),
            ({"logits": [[0.0, 1.0, 2.0]] * 3}, r"'temperature'.*does not broadcast"),
        ),
    ),
]
