r"""Named, constrained parameter blocks packed into one unconstrained vector z ∈ R^d.

Black-box VI fits a guide q(z) on R^d, so a model with constrained parameters θ
(scales, probabilities, simplexes) is written on the unconstrained space through a
bijection θ = T(z) and the change of variables

.. math::
    \log p(x, z) = \log p(x, \theta = T(z)) + \log\left|\det \frac{\partial T}{\partial z}\right|

(Kucukelbir et al., "Automatic Differentiation Variational Inference", JMLR 2017,
arXiv:1603.00788, section 2.3). The transforms per constraint:

- ``"real"``: θ = z (log-det 0);
- ``"positive"``: θ = exp(z), log-det = Σ z;
- ``"unit_interval"``: θ = σ(z) (logistic sigmoid), log-det = Σ log σ(z) + log σ(−z);
- ``"simplex"`` of K entries (last dimension): stick-breaking from K − 1 unconstrained
  numbers (torch.distributions.StickBreakingTransform; z = 0 maps to the uniform point).

Example:
    >>> layout = Layout({"mu": ((), "real"), "tau": ((), "positive"), "p": (3, "simplex")})
    >>> layout.dim, layout.flat_names()
    (4, ['mu', 'tau', 'p[0]', 'p[1]', 'p[2]'])
    >>> params, log_det = layout.constrain(torch.zeros(5, 4))
    >>> params["p"].shape, log_det.shape
    (torch.Size([5, 3]), torch.Size([5]))
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import transforms as T

__all__ = ["CONSTRAINTS", "Layout"]

CONSTRAINTS = ("real", "positive", "unit_interval", "simplex")


@dataclass(frozen=True)
class _Block:
    name: str
    shape: tuple[int, ...]  # constrained shape
    ushape: tuple[int, ...]  # unconstrained shape
    constraint: str
    start: int  # offset in z
    size: int  # number of unconstrained entries

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _as_shape(name: str, shape: object) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if (
        not isinstance(shape, tuple)
        or any(isinstance(s, bool) or not isinstance(s, int) for s in shape)
        or any(s < 1 for s in shape)
    ):
        raise ValueError(
            f"Layout: block {name!r} must have a shape that is an int >= 1 or a tuple of "
            f"ints >= 1 (() for a scalar); got {shape!r}"
        )
    return shape


def _cat(parts: list[Tensor]) -> Tensor:
    """Concatenate on the last dimension after promoting to a common dtype."""
    dtype = parts[0].dtype
    for p in parts[1:]:
        dtype = torch.promote_types(dtype, p.dtype)
    return torch.cat([p.to(dtype) for p in parts], dim=-1)


def _transform(constraint: str) -> T.Transform:
    if constraint == "positive":
        return T.ExpTransform()
    if constraint == "unit_interval":
        return T.SigmoidTransform()
    if constraint == "simplex":
        return T.StickBreakingTransform()
    return T.identity_transform


class Layout:
    """Named blocks of the unconstrained vector z ∈ R^d, each with a constraint.

    Args:
        blocks: ``{name: (shape, constraint)}`` in the order the blocks take in z.
            ``shape`` is the constrained shape: an int n (a vector (n,)), a tuple, or
            ``()`` for a scalar. ``constraint`` is one of ``"real"``, ``"positive"``,
            ``"unit_interval"``, ``"simplex"``. A simplex block of shape (…, K) (K >= 2)
            sums to 1 over its last dimension and takes prod(…)·(K − 1) entries of z.

    Attributes:
        dim: d, the length of z.
        names: the block names in order.
        shapes: ``{name: constrained shape}``.
        constraints: ``{name: constraint}``.

    Raises:
        ValueError: no blocks, a name that is not a non-empty string, a bad shape, an
            unknown constraint, or a simplex block with K < 2 (or of shape ()).
    """

    def __init__(self, blocks: Mapping[str, tuple[tuple[int, ...] | int, str]]) -> None:
        if not isinstance(blocks, Mapping) or not blocks:
            raise ValueError(f"Layout: blocks must be a non-empty dict, got {blocks!r}")
        parsed: list[_Block] = []
        start = 0
        for name, spec in blocks.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"Layout: block names must be non-empty strings, got {name!r}")
            if not isinstance(spec, tuple) or len(spec) != 2:
                raise ValueError(
                    f"Layout: block {name!r} must be a (shape, constraint) pair, got {spec!r}"
                )
            shape = _as_shape(name, spec[0])
            constraint = spec[1]
            if constraint not in CONSTRAINTS:
                raise ValueError(
                    f"Layout: block {name!r} has unknown constraint {constraint!r}; choose "
                    f"one of {', '.join(CONSTRAINTS)}"
                )
            ushape = shape
            if constraint == "simplex":
                if len(shape) == 0 or shape[-1] < 2:
                    raise ValueError(
                        f"Layout: simplex block {name!r} needs a last dimension K >= 2, got "
                        f"shape {shape}"
                    )
                ushape = shape[:-1] + (shape[-1] - 1,)
            size = math.prod(ushape)
            parsed.append(_Block(name, shape, ushape, constraint, start, size))
            start += size
        self._blocks = tuple(parsed)
        self.dim: int = start
        self.names: list[str] = [b.name for b in parsed]
        self.shapes: dict[str, tuple[int, ...]] = {b.name: b.shape for b in parsed}
        self.constraints: dict[str, str] = {b.name: b.constraint for b in parsed}

    # ----------------------------------------------------------------- checks
    def _check_z(self, z: object, where: str) -> Tensor:
        if not isinstance(z, Tensor):
            raise ValueError(f"Layout.{where}: z must be a Tensor, got {type(z).__name__}")
        if z.dim() < 1 or z.shape[-1] != self.dim:
            raise ValueError(
                f"Layout.{where}: z must have shape (*, {self.dim}) (d = {self.dim}), got "
                f"{tuple(z.shape)}"
            )
        return z

    def _check_params(self, params: object, where: str) -> tuple[dict[str, Tensor], torch.Size]:
        if not isinstance(params, Mapping):
            raise ValueError(f"Layout.{where}: params must be a dict, got {type(params).__name__}")
        missing = [n for n in self.names if n not in params]
        extra = [n for n in params if n not in self.shapes]
        if missing or extra:
            raise ValueError(
                f"Layout.{where}: params must have exactly the keys {self.names}; missing "
                f"{missing}, unexpected {extra}"
            )
        out: dict[str, Tensor] = {}
        batch: torch.Size | None = None
        for b in self._blocks:
            value = torch.as_tensor(params[b.name])
            n = len(b.shape)
            if value.dim() < n or tuple(value.shape[value.dim() - n :]) != b.shape:
                raise ValueError(
                    f"Layout.{where}: {b.name!r} must have shape (*, *{b.shape}), got "
                    f"{tuple(value.shape)}"
                )
            lead = value.shape[: value.dim() - n]
            if batch is None:
                batch = lead
            elif lead != batch:
                raise ValueError(
                    f"Layout.{where}: all blocks must share the leading shape; {b.name!r} has "
                    f"{tuple(lead)}, earlier blocks {tuple(batch)}"
                )
            out[b.name] = value
        assert batch is not None
        return out, batch

    # ----------------------------------------------------------------- z → θ
    def constrain(self, z: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """θ = T(z) per block and log|det ∂θ/∂z| summed over all blocks.

        Args:
            z: unconstrained values, shape (*, d).

        Returns:
            ``({name: θ with shape (*, *shape)}, log_det with shape (*))``.
        """
        z = self._check_z(z, "constrain")
        lead = z.shape[:-1]
        params: dict[str, Tensor] = {}
        log_det = z.new_zeros(lead)
        for b in self._blocks:
            u = z[..., b.start : b.start + b.size].reshape(lead + b.ushape)
            if b.constraint == "real":
                params[b.name] = u
                continue
            t = _transform(b.constraint)
            theta = t(u)
            ladj = t.log_abs_det_jacobian(u, theta)  # simplex: already summed over K
            log_det = log_det + ladj.reshape(lead + (-1,)).sum(-1)
            params[b.name] = theta
        return params, log_det

    # ----------------------------------------------------------------- θ → z
    def unconstrain(self, params: Mapping[str, Tensor]) -> Tensor:
        """z = T⁻¹(θ): the inverse of :meth:`constrain`.

        Args:
            params: ``{name: θ with shape (*, *shape)}``, every block with the same
                leading shape (*), values inside their constraint's support.

        Returns:
            z with shape (*, d).

        Raises:
            ValueError: missing or unexpected names, wrong shapes, or a value outside
                its support (positive: > 0; unit_interval: in (0, 1); simplex: entries
                > 0 summing to 1 over the last dimension).
        """
        values, lead = self._check_params(params, "unconstrain")
        parts = []
        for b in self._blocks:
            theta = values[b.name]
            if not theta.is_floating_point():
                theta = theta.to(torch.get_default_dtype())
            self._check_support(b, theta)
            u = theta if b.constraint == "real" else _transform(b.constraint).inv(theta)
            parts.append(u.reshape(lead + (b.size,)))
        return _cat(parts)

    @staticmethod
    def _check_support(b: _Block, theta: Tensor) -> None:
        t = theta.detach()
        ok = bool(torch.isfinite(t).all())
        if ok and b.constraint == "positive":
            ok = bool((t > 0).all())
            what = "finite and > 0"
        elif ok and b.constraint == "unit_interval":
            ok = bool(((t > 0) & (t < 1)).all())
            what = "in the open interval (0, 1)"
        elif ok and b.constraint == "simplex":
            tol = 1e-4 if t.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-8
            ok = bool((t > 0).all()) and bool(((t.sum(-1) - 1).abs() <= tol).all())
            what = "entries > 0 summing to 1 over the last dimension"
        else:
            what = "finite"
        if not ok:
            raise ValueError(
                f"Layout.unconstrain: {b.name!r} ({b.constraint}) must be {what}; got "
                f"values outside that support"
            )

    # ----------------------------------------------------------------- flat views
    def flat_names(self) -> list[str]:
        """Names of the constrained scalars: ``"mu"``, ``"theta[3]"``, ``"W[0,1]"``."""
        names: list[str] = []
        for b in self._blocks:
            if not b.shape:
                names.append(b.name)
                continue
            for idx in itertools.product(*(range(s) for s in b.shape)):
                names.append(f"{b.name}[{','.join(map(str, idx))}]")
        return names

    def flatten(self, params: Mapping[str, Tensor]) -> Tensor:
        """The constrained scalars in :meth:`flat_names` order: shape (*, n).

        Args:
            params: ``{name: θ with shape (*, *shape)}`` (e.g. from :meth:`constrain`).
        """
        values, lead = self._check_params(params, "flatten")
        parts = [values[b.name].reshape(lead + (b.numel,)) for b in self._blocks]
        return _cat(parts)

    # ----------------------------------------------------------------- log joint
    def log_joint_from(
        self, log_density: Callable[[dict[str, Tensor]], Tensor]
    ) -> Callable[[Tensor], Tensor]:
        """The unconstrained log joint z ↦ log_density(T(z)) + log|det ∂T/∂z|.

        Args:
            log_density: maps ``{name: θ with shape (*, *shape)}`` to log p(x, θ) with
                shape (*) (the model on the constrained space).

        Returns:
            A function from z with shape (*, d) to a Tensor with shape (*).
        """
        if not callable(log_density):
            raise ValueError(
                f"Layout.log_joint_from: log_density must be callable, got "
                f"{type(log_density).__name__}"
            )

        def log_joint(z: Tensor) -> Tensor:
            params, log_det = self.constrain(z)
            return log_density(params) + log_det

        return log_joint

    def __repr__(self) -> str:
        inner = ", ".join(f"{b.name}: ({b.shape}, {b.constraint!r})" for b in self._blocks)
        return f"Layout({{{inner}}}, dim={self.dim})"
