"""Registry entries for the distributions on the unit sphere (see registry.py for the fields).

``loc`` must be a unit vector, so the entries take an unconstrained leaf ``v`` and build
loc = v/|v| inside ``make``: gradient checks then perturb ``v`` freely and the exact
gradients (of ``mean``, ``variance``) are those of the same map. ``raw_loc`` overrides
loc as given (for the bad-parameter cases). SphericalUniform has no parameters: ``ref``
only sets its dtype, and nothing carries a gradient (``extra={"parameter_free": True}``).
"""

import reparam

NAN = float("nan")
V4 = [[0.3, -1.2, 2.0, 0.5], [-0.5, 0.7, 0.1, -0.9]]


def _unit(v):
    return v / v.norm(dim=-1, keepdim=True)


def _sphere(cls):
    def make(v, concentration, raw_loc=None, **kw):
        return cls(_unit(v) if raw_loc is None else raw_loc, concentration, **kw)

    return make


def _bad(name):
    return (
        (
            {"raw_loc": [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]},
            rf"{name}.*'loc'.*unit vector",
        ),
        ({"concentration": [-1.0, 2.0]}, r"'concentration'.*>= 0"),
        ({"concentration": [NAN, 2.0]}, r"'concentration'.*finite"),
        ({"raw_loc": [[NAN, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]}, r"'loc'.*finite"),
        ({"v": [[1.0], [2.0]]}, r"d >= 2"),
        ({"concentration": [1.0, 2.0, 3.0]}, r"broadcast"),
    )


EXAMPLES = [
    dict(
        name="VonMisesFisher",
        make=_sphere(reparam.VonMisesFisher),
        params={"v": V4, "concentration": [2.0, 15.0]},
        bad=_bad("VonMisesFisher"),
    ),
    dict(
        name="PowerSpherical",
        make=_sphere(reparam.PowerSpherical),
        params={"v": V4, "concentration": [2.0, 15.0]},
        bad=_bad("PowerSpherical"),
    ),
    dict(
        name="SphericalUniform",
        make=lambda ref, **kw: reparam.SphericalUniform(
            4, batch_shape=(2,), dtype=ref.dtype, **kw
        ),
        params={"ref": [0.0]},
        grad_params=(),
        moments=False,
        extra={"parameter_free": True},
    ),
]
