r"""How ε is drawn: plain Monte Carlo, antithetic pairs, randomized quasi-Monte Carlo.

Every reparameterized distribution computes z = g(ε, θ) from noise ε ~ p(ε) whose
elements are independent draws of one standard base (``q.noise``: N(0, 1) or U(0, 1)).
Because ε is visible, *how* it is drawn is a choice that works for every family at
once. Each strategy here keeps every ε_i distributed exactly as p(ε) marginally, so
(1/N) Σ_i f(g(ε_i, θ)) and its gradient stay unbiased; they differ in how the draws
depend on each other:

- ``"mc"``: independent draws, ``q.sample_noise(sample_shape)``;
- ``"antithetic"``: the first half of the draws along the first sample dimension, then
  their reflections (ε ↦ −ε for the normal base, u ↦ 1 − u for the uniform base). For f
  monotone in each ε the pair's values are negatively correlated, so
  Var[(f(ε) + f(ε'))/2] ≤ Var[f(ε)]/2; for odd f ∘ g (in ε) the variance is zero;
- ``"qmc"``: randomized quasi-Monte Carlo. A scrambled Sobol' sequence (random
  linear scrambling and a digital shift, afresh for every draw) gives n points
  u_i ∈ [0, 1)^d, each uniform marginally but jointly more even than independent
  points; ε_i = F⁻¹(u_i) through the base's inverse CDF. For smooth integrands the
  variance falls like O(n^{-2+δ}) (scrambled nets, Owen 1997) instead of O(n^{-1}).

.. math::
    \hat I = \frac1n \sum_{i=1}^n f\bigl(g(F^{-1}(u_i), \theta)\bigr), \qquad
    \mathbb E[\hat I] = \mathbb E_{p(\varepsilon)}[f(g(\varepsilon, \theta))]

New strategies subclass :class:`NoiseStrategy` and are made available by name with
:func:`register_noise`.

References:
    Buchholz, Wenzel & Mandt, "Quasi-Monte Carlo Variational Inference", ICML 2018,
    arXiv:1807.01985.
    Owen, "Scrambled net variance for integrals of smooth functions", Annals of
    Statistics 25, 1997.
    Matoušek, "On the L2-discrepancy for anchored boxes", J. Complexity 14, 1998.
    Hammersley & Morton, "A new Monte Carlo technique: antithetic variates",
    Proc. Cambridge Philos. Soc. 52, 1956.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol, cast

import torch
from torch import Tensor
from torch.quasirandom import SobolEngine
from torch.types import _size

__all__ = [
    "Antithetic",
    "HasNoise",
    "MonteCarlo",
    "NoiseStrategy",
    "SobolQMC",
    "draw_noise",
    "scrambled_sobol",
    "get_noise",
    "noise_names",
    "register_noise",
]

#: the largest number of noise elements per sample that ``"qmc"`` handles
#: (``torch.quasirandom.SobolEngine.MAXDIM``).
QMC_MAX_DIM = SobolEngine.MAXDIM

# u is kept in [2^-53, 1 − 2^-53] before the inverse CDF (float64), so F⁻¹(u) is finite.
_U_EDGE = 2.0**-53
# Digits kept beyond log2(n) when scrambling: the first n = 2^m Sobol' points are
# stratified by their top m digits; the rest only place a point inside its cell.
_EXTRA_DIGITS = 10
_MAX_DIGITS = SobolEngine.MAXBIT


@functools.lru_cache(maxsize=16)
def _sobol_ints(n: int, d: int, digits: int) -> Tensor:
    """The first n unscrambled Sobol' points in d dimensions as ``digits``-bit integers,
    shape (d, n) int64 (cached)."""
    points = SobolEngine(dimension=d, scramble=False).draw(n, dtype=torch.float64)
    return torch.floor(points * 2.0**digits).to(torch.int64).T.contiguous()


def _parity(v: Tensor) -> Tensor:
    """Parity (popcount mod 2) of non-negative int64 values below 2^32, elementwise."""
    for shift in (16, 8, 4, 2, 1):
        v = v ^ (v >> shift)
    return v & 1


def scrambled_sobol(n: int, d: int) -> Tensor:
    r"""n randomized Sobol' points in [0, 1)^d (float64, shape (n, d)), from torch's RNG.

    Random linear scrambling plus a digital shift (Matoušek 1998), the randomization
    torch's ``SobolEngine(scramble=True)`` uses, applied to the points' top K binary
    digits: with b the digit vector of a coordinate (most significant first), L a random
    lower-triangular binary matrix with unit diagonal and s a uniform random digit
    vector, both fresh per coordinate and per call,

    .. math:: y = (L b) \oplus s \pmod 2, \qquad u = (y + U)/2^K, \quad U \sim \mathcal U(0,1).

    The shift makes every point's cell uniform over the 2^K cells and the jitter U fills
    the cell, so each u_i is exactly uniform on [0, 1)^d; L is invertible, so the net's
    stratification is kept. K = min(30, ⌈log2 n⌉ + 10). The unscrambled points are
    cached per (n, d) and L b is computed with integer bit operations (row k of L as a
    bit mask, y_k = parity(L_k & b)): elementwise kernels only, much cheaper than
    building a scrambled ``SobolEngine`` on every call.
    """
    digits = min(_MAX_DIGITS, max(1, math.ceil(math.log2(max(n, 1)))) + _EXTRA_DIGITS)
    ints = _sobol_ints(n, d, digits)
    k = torch.arange(digits, dtype=torch.int64)
    weight = torch.ones_like(k) << (digits - 1 - k)  # 2^(K-1-k): digit k's bit
    below_diagonal = (1 << digits) - (weight << 1)  # the bits of the digits j < k
    rows = torch.randint(0, 1 << digits, (d, 1, digits), dtype=torch.int64)
    rows = (rows & below_diagonal) | weight
    mixed = (_parity(ints.unsqueeze(-1) & rows) * weight).sum(-1)  # (d, n)
    shift = torch.randint(0, 1 << digits, (d, 1), dtype=torch.int64)
    cells = (mixed ^ shift).to(torch.float64)
    return ((cells + torch.rand(d, n, dtype=torch.float64)) * 2.0**-digits).T


class HasNoise(Protocol):
    """What a strategy needs of q: the base, the shape of ε and plain draws of it.

    Every :class:`~reparam.distributions.ReparamDistribution` is one; the protocol keeps
    this module below the distributions (it imports none of them). ``noise`` is the
    elementwise base (a :class:`~reparam.distributions.standard.NoiseBase`: ``support``,
    ``icdf``, ``reflect``, optionally ``clamp``); ``sample_noise(shape)`` draws
    independent ε with the parameters' dtype and device (an empty draw gives them).
    """

    noise: Any

    def noise_shape(self, sample_shape: torch.Size = ...) -> torch.Size:
        """``sample_shape + batch_shape + noise_event_shape``."""
        ...

    def sample_noise(self, sample_shape: torch.Size = ..., *, noise: Any = ...) -> Tensor:
        """Independent ε ~ p(ε) with shape ``noise_shape(sample_shape)``."""
        ...


def _shape(sample_shape: _size | int) -> torch.Size:
    if isinstance(sample_shape, int) and not isinstance(sample_shape, bool):
        return torch.Size((sample_shape,))
    # a bool reaches torch.Size too, which rejects it
    return torch.Size(cast("_size", sample_shape))


def _elementwise_base(q: HasNoise, strategy: str) -> None:
    """Raise ValueError unless q's noise is a continuous elementwise base."""
    noise = getattr(q, "noise", None)
    support = getattr(noise, "support", None)
    if noise is None or getattr(support, "is_discrete", False):
        raise ValueError(
            f"noise={strategy!r} needs noise drawn elementwise from a continuous standard "
            f"base (N(0, 1) or U(0, 1)); {type(q).__name__}'s noise is "
            f"{type(noise).__name__}, opaque to noise strategies (use noise='mc')"
        )


def _empty_noise(q: HasNoise) -> Tensor:
    """An empty draw of q's own noise: the dtype and device ε must have."""
    return q.sample_noise(torch.Size((0,)))


class NoiseStrategy(ABC):
    """How ε is drawn for a :class:`~reparam.distributions.ReparamDistribution`.

    A subclass writes :meth:`draw`, returning ε with shape
    ``q.noise_shape(sample_shape)`` whose every element is distributed as ``q.noise``
    (so estimates stay unbiased), and registers itself with :func:`register_noise` to
    be available by name.

    Example:
        >>> class Reversed(NoiseStrategy):
        ...     '''Plain MC draws in reverse order (a toy strategy).'''
        ...     name = "reversed"
        ...     def draw(self, q, sample_shape):
        ...         return q.sample_noise(sample_shape).flip(0)
        >>> from reparam import Normal
        >>> draw_noise(Normal(0.0, 1.0), (4,), Reversed()).shape
        torch.Size([4])
    """

    name: ClassVar[str] = "noise"

    @abstractmethod
    def draw(self, q: HasNoise, sample_shape: torch.Size) -> Tensor:
        """ε with shape ``q.noise_shape(sample_shape)``, each element ~ ``q.noise``."""

    def __call__(self, q: HasNoise, sample_shape: _size = ()) -> Tensor:
        """Draw, then check the shape (a strategy's contract)."""
        shape = _shape(sample_shape)
        eps = self.draw(q, shape)
        expected = q.noise_shape(shape)
        if not isinstance(eps, Tensor) or eps.shape != expected:
            got = tuple(eps.shape) if isinstance(eps, Tensor) else type(eps).__name__
            raise ValueError(
                f"noise strategy {self.name!r} returned {got}; expected a tensor of shape "
                f"q.noise_shape(sample_shape) = {tuple(expected)}"
            )
        return eps

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_STRATEGIES: dict[str, type[NoiseStrategy]] = {}


def register_noise(cls: type[NoiseStrategy]) -> type[NoiseStrategy]:
    """Class decorator: make ``cls`` available as ``noise=cls.name``."""
    _STRATEGIES[cls.name] = cls
    return cls


def noise_names() -> list[str]:
    """The names accepted by ``noise=``."""
    return sorted(_STRATEGIES)


def get_noise(noise: str | NoiseStrategy) -> NoiseStrategy:
    """Resolve a strategy name, or pass a :class:`NoiseStrategy` instance through.

    Raises:
        ValueError: an unknown name or a value that is neither a name nor a strategy.
    """
    if isinstance(noise, NoiseStrategy):
        return noise
    if isinstance(noise, str) and noise in _STRATEGIES:
        return _STRATEGIES[noise]()
    raise ValueError(
        f"unknown noise {noise!r}; use one of {', '.join(noise_names())} or a "
        "NoiseStrategy instance"
    )


@register_noise
class MonteCarlo(NoiseStrategy):
    """Independent draws: ``q.sample_noise(sample_shape)`` (the default)."""

    name = "mc"

    def draw(self, q: HasNoise, sample_shape: torch.Size) -> Tensor:
        return q.sample_noise(sample_shape)


@register_noise
class Antithetic(NoiseStrategy):
    r"""Antithetic pairs along the first sample dimension.

    .. math::
        \varepsilon_{1..n/2} \sim p(\varepsilon) \text{ i.i.d.}, \qquad
        \varepsilon_{n/2 + i} = r(\varepsilon_i)

    with the base's reflection r (−ε for N(0, 1), 1 − u for U(0, 1)), which maps p(ε)
    onto itself, so every ε_i has the base distribution. Pairs are (i, i + n/2); the
    other sample dimensions (if any) are independent.

    An odd first sample dimension raises (instead of adding an unpaired draw) so that
    every estimate is an average over complete pairs, which is what makes the variance
    of antithetic sampling predictable; use an even number of samples.

    Raises:
        ValueError: ``sample_shape`` is empty or its first entry is odd, or q's noise is
            not an elementwise continuous base (e.g. :class:`~reparam.WrappedRSample`).

    Example:
        >>> from reparam import Normal
        >>> eps = draw_noise(Normal(0.0, 1.0), (4,), "antithetic")
        >>> torch.equal(eps[2:], -eps[:2])
        True
    """

    name = "antithetic"

    def draw(self, q: HasNoise, sample_shape: torch.Size) -> Tensor:
        _elementwise_base(q, self.name)
        if len(sample_shape) == 0 or sample_shape[0] % 2:
            first = sample_shape[0] if len(sample_shape) else "none (sample_shape=())"
            raise ValueError(
                "noise='antithetic' pairs draws along the first sample dimension, which "
                f"must be even; got sample_shape={tuple(sample_shape)} (first dimension: "
                f"{first})"
            )
        # The half from q's base directly: a family's own plain-MC path (the native
        # Gamma draws) would compute its u = F(z) only for the inverse to redo it.
        ref = _empty_noise(q)
        half_shape = q.noise_shape(torch.Size((sample_shape[0] // 2,)) + sample_shape[1:])
        half = q.noise.sample(half_shape, dtype=ref.dtype, device=ref.device)
        try:
            partner = q.noise.reflect(half)
        except NotImplementedError as err:
            raise ValueError(
                f"noise='antithetic' needs the base's reflection; {type(q.noise).__name__} "
                f"has none ({err})"
            ) from err
        return torch.cat([half, partner], dim=0)


@register_noise
class SobolQMC(NoiseStrategy):
    r"""Randomized quasi-Monte Carlo: scrambled Sobol' points through the base's F⁻¹.

    .. math::
        u_1, \dots, u_n \in [0, 1)^d \text{ (scrambled Sobol')}, \qquad
        \varepsilon_i = F^{-1}(u_i)

    with n = prod(sample_shape) and d = the number of noise elements per sample
    (``prod(batch_shape + noise_event_shape)``); point i fills sample i in row-major
    order of ``sample_shape``. Each call scrambles afresh from torch's global generator
    (:func:`scrambled_sobol`; ``torch.manual_seed`` makes it reproducible), so calls are
    independent replicates and each u_i is uniform on [0, 1)^d: the estimate is
    unbiased. u is clipped to [2⁻⁵³, 1 − 2⁻⁵³] and
    pushed through ``q.noise.icdf`` in float64 (no ±inf), cast to q's dtype, and passed
    through the base's ``clamp`` if it has one (the uniform base's open interval).

    The balance properties of Sobol' points hold for n a power of 2 (n = 2^m): prefer
    16, 32, 64, …; other n are still unbiased but reduce variance less.

    Raises:
        ValueError: d exceeds :data:`QMC_MAX_DIM` (21201), or q's noise is not an
            elementwise continuous base (e.g. :class:`~reparam.WrappedRSample`).

    References:
        Buchholz, Wenzel & Mandt, "Quasi-Monte Carlo Variational Inference", ICML
        2018, arXiv:1807.01985.

    Example:
        >>> from reparam import Normal
        >>> eps = draw_noise(Normal(torch.zeros(3), 1.0), (16,), "qmc")
        >>> eps.shape, bool(eps.isfinite().all())
        (torch.Size([16, 3]), True)
    """

    name = "qmc"

    def draw(self, q: HasNoise, sample_shape: torch.Size) -> Tensor:
        _elementwise_base(q, self.name)
        shape = q.noise_shape(sample_shape)
        n = math.prod(sample_shape)
        d = math.prod(shape[len(sample_shape) :])
        if d > QMC_MAX_DIM:
            raise ValueError(
                f"noise='qmc' needs at most {QMC_MAX_DIM} noise elements per sample "
                f"(torch.quasirandom.SobolEngine.MAXDIM); {type(q).__name__} has d = {d} "
                f"(batch_shape + noise_event_shape = {tuple(shape[len(sample_shape) :])})"
            )
        ref = _empty_noise(q)
        if n == 0 or d == 0:
            return torch.empty(shape, dtype=ref.dtype, device=ref.device)
        u = scrambled_sobol(n, d).clamp_(_U_EDGE, 1.0 - _U_EDGE)
        try:
            eps = q.noise.icdf(u)
        except NotImplementedError as err:
            raise ValueError(
                f"noise='qmc' needs the base's inverse CDF; {type(q.noise).__name__} has "
                f"none ({err})"
            ) from err
        eps = eps.to(dtype=ref.dtype, device=ref.device).reshape(shape)
        clamp = getattr(q.noise, "clamp", None)
        return clamp(eps) if callable(clamp) else eps


def draw_noise(
    q: HasNoise,
    sample_shape: _size = (),
    noise: str | NoiseStrategy = "mc",
) -> Tensor:
    """Draw ε for q with a noise strategy: ``"mc"``, ``"antithetic"``, ``"qmc"`` or an instance.

    Args:
        q: a :class:`~reparam.distributions.ReparamDistribution`.
        sample_shape: leading sample dimensions.
        noise: a registered name (see :func:`noise_names`) or a :class:`NoiseStrategy`.

    Returns:
        ε with shape ``q.noise_shape(sample_shape)``, ready for ``q.from_noise``.

    Raises:
        ValueError: an unknown strategy, or one that does not apply (see each class).

    Example:
        >>> from reparam import Normal
        >>> q = Normal(torch.zeros(2), torch.ones(2))
        >>> q.from_noise(draw_noise(q, (8,), "antithetic")).shape
        torch.Size([8, 2])
    """
    return get_noise(noise)(q, sample_shape)
