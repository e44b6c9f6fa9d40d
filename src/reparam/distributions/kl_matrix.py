r"""KL divergences of the matrix families that torch lacks: Wishart – Wishart.

Importing this module (``import reparam`` does) registers, for reparam's
:class:`~reparam.distributions.Wishart` or torch's on either side, with p = W_d(ν_p, Σ_p)
and q = W_d(ν_q, Σ_q):

.. math::
    \mathrm{KL}(p\,\|\,q) = \tfrac{\nu_q}{2}\bigl(\log|\Sigma_q| - \log|\Sigma_p|\bigr)
    + \tfrac{\nu_p}{2}\bigl(\operatorname{tr}(\Sigma_q^{-1}\Sigma_p) - d\bigr)
    + \log\frac{\Gamma_d(\nu_q/2)}{\Gamma_d(\nu_p/2)}
    + \tfrac{\nu_p - \nu_q}{2}\,\psi_d(\nu_p/2),

from E_p[z] = ν_pΣ_p and E_p[log|z|] = ψ_d(ν_p/2) + d log 2 + log|Σ_p| (Γ_d and ψ_d the
multivariate gamma and digamma functions); tr(Σ_q⁻¹Σ_p) = ‖L_q⁻¹L_p‖²_F.
"""

from __future__ import annotations

import torch
import torch.distributions as td
from torch import Tensor
from torch.distributions.kl import register_kl

from ._gaussian import tril_solve
from .wishart import Wishart, mvdigamma

__all__ = ["kl_wishart_wishart"]


def kl_wishart_wishart(p: Wishart | td.Wishart, q: Wishart | td.Wishart) -> Tensor:
    """KL(p ‖ q) between two Wishart distributions of the same dimension d."""
    d = p.event_shape[-1]
    if q.event_shape[-1] != d:
        raise ValueError(
            f"kl_divergence(Wishart, Wishart): dimensions differ ({d} and {q.event_shape[-1]})"
        )
    lp, lq = p.scale_tril, q.scale_tril
    half_log_det_p = lp.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    half_log_det_q = lq.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    trace = tril_solve(lq, lp).pow(2).sum((-2, -1))
    nu_p, nu_q = p.df, q.df
    return (
        nu_q * (half_log_det_q - half_log_det_p)
        + 0.5 * nu_p * (trace - d)
        + torch.mvlgamma(0.5 * nu_q, d)
        - torch.mvlgamma(0.5 * nu_p, d)
        + 0.5 * (nu_p - nu_q) * mvdigamma(0.5 * nu_p, d)
    )


for _p in (Wishart, td.Wishart):
    for _q in (Wishart, td.Wishart):
        register_kl(_p, _q)(kl_wishart_wishart)
