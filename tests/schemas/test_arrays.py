from __future__ import annotations

import pytest

from service.schemas.arrays import parse_array


def test_raggedness_below_the_first_axis_names_the_index() -> None:
    """Items that agree with their own first row but not with the first item's (found by
    schemathesis: numpy's own message leaked out)."""
    expected = r"inputs\[1\]\[0\] has 3 features, inputs\[0\]\[0\] has 1 \(ragged\)"
    with pytest.raises(ValueError, match=expected):
        parse_array([[[0.0]], [[0.0, 0.0, 0.0]]], ndims=(3,), field="inputs")
    assert parse_array([[[0.0]], [[1.0]]], ndims=(3,), field="inputs").shape == (2, 1, 1)
