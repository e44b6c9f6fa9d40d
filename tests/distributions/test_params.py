"""Parameter conversion, broadcasting and the fast validation path."""

import pytest
import torch
from torch.distributions import constraints

from reparam.distributions._params import as_params, check_params


def test_numbers_become_default_dtype_tensors():
    (a, b) = as_params("X", a=1, b=2.5)
    assert a.dtype == b.dtype == torch.get_default_dtype()
    assert a.shape == b.shape == ()


def test_integer_tensor_is_cast_to_float():
    (a,) = as_params("X", a=torch.tensor([1, 2]))
    assert a.dtype.is_floating_point


def test_mixed_float_dtypes_promote():
    a, b = as_params(
        "X", a=torch.zeros(2, dtype=torch.float32), b=torch.ones(2, dtype=torch.float64)
    )
    assert a.dtype == b.dtype == torch.float64


def test_broadcasts_and_names_shapes_on_failure():
    a, b = as_params("X", a=torch.zeros(3, 1), b=torch.ones(4))
    assert a.shape == b.shape == (3, 4)
    with pytest.raises(ValueError, match=r"X: .*a \(3,\), b \(2,\)"):
        as_params("X", a=torch.zeros(3), b=torch.ones(2))


@pytest.mark.parametrize("bad", ["1.0", None, [1.0], True])
def test_non_numeric_parameter_is_a_type_error(bad):
    with pytest.raises(TypeError, match=r"X: parameter 'a'"):
        as_params("X", a=bad)


def test_complex_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="real"):
        as_params("X", a=torch.zeros(2, dtype=torch.complex64))


CASES = [
    (constraints.real, [0.0, -1e30, 1e30], None),
    (constraints.real, [0.0, float("nan")], "finite"),
    (constraints.real, [0.0, float("-inf")], "finite"),
    (constraints.positive, [1e-30, 3.0], None),
    (constraints.positive, [0.0, 1.0], "> 0"),
    (constraints.positive, [float("inf"), 1.0], "finite"),
    (constraints.positive, [float("nan"), 1.0], "finite"),
    (constraints.unit_interval, [0.0, 1.0], None),
    (constraints.unit_interval, [0.5, 1.5], "<= 1"),
    (constraints.half_open_interval(0.0, 1.0), [0.0, 1.0], "< 1"),
    (constraints.greater_than_eq(2.0), [2.0, 3.0], None),
    (constraints.greater_than_eq(2.0), [1.9], ">= 2"),
    (constraints.less_than(0.0), [-1.0, 0.0], "< 0"),
    (constraints.real_vector, [[0.0, float("inf")]], "finite"),
    (constraints.lower_cholesky, [[1.0, 0.0], [0.5, 2.0]], None),
    (constraints.lower_cholesky, [[1.0, 0.3], [0.5, 2.0]], "LowerCholesky"),
]


@pytest.mark.parametrize(("constraint", "values", "error"), CASES, ids=lambda x: str(x))
def test_check_params(constraint, values, error):
    value = torch.tensor(values, dtype=torch.float64)
    if error is None:
        check_params("X", {"p": value}, {"p": constraint})
    else:
        with pytest.raises(ValueError, match=rf"X: parameter 'p' .*{error}"):
            check_params("X", {"p": value}, {"p": constraint})


def test_overflowing_sum_is_not_a_false_error():
    """float32 values whose sum overflows are still finite: the exact check clears them."""
    value = torch.full((4,), 3e38, dtype=torch.float32)
    assert not torch.isfinite(value.sum())
    check_params("X", {"p": value}, {"p": constraints.real})


def test_empty_parameter_is_valid():
    check_params("X", {"p": torch.zeros(0)}, {"p": constraints.positive})
