from __future__ import annotations

import pytest

from service.forecasting.calendar import calendar_of, interpolate, parse_freq, season_of_freq


@pytest.mark.parametrize(
    ("freq", "season"),
    [
        ("MS", 12),
        ("ME", 12),
        ("QS", 4),
        ("QE-DEC", 4),
        ("W-MON", 52),
        ("W", 52),
        ("D", 7),
        ("h", 24),
        ("2D", None),
        ("min", None),
        ("YS", None),
    ],
)
def test_the_usual_season_of_a_frequency(freq: str, season: int | None) -> None:
    assert season_of_freq(freq) == season


@pytest.mark.parametrize("freq", ["fortnight", "M", "H", "-1D", "0D"])
def test_unknown_deprecated_or_backward_frequencies_are_refused(freq: str) -> None:
    with pytest.raises(ValueError, match="freq"):
        parse_freq(freq)


def test_timestamps_infer_their_frequency_and_step_past_the_end() -> None:
    calendar = calendar_of(
        3, timestamps=["2024-01-29", "2024-02-05", "2024-02-12"], start=None, freq=None
    )
    assert calendar is not None
    assert calendar.freq == "W-MON"
    assert calendar.ahead(2) == ["2024-02-19T00:00:00", "2024-02-26T00:00:00"]
    assert calendar.last.isoformat() == "2024-02-12T00:00:00"


def test_time_zones_are_kept() -> None:
    stamps = ["2024-03-01T00:00:00+01:00", "2024-03-01T01:00:00+01:00", "2024-03-01T02:00:00+01:00"]
    calendar = calendar_of(3, timestamps=stamps, start=None, freq=None)
    assert calendar is not None
    assert calendar.ahead(1) == ["2024-03-01T03:00:00+01:00"]


def test_undated_is_none() -> None:
    assert calendar_of(5, timestamps=None, start=None, freq=None) is None


def test_interpolation_is_linear_and_counts_what_it_filled() -> None:
    assert interpolate([1.0, None, None, 4.0]) == ([1.0, 2.0, 3.0, 4.0], [1, 2])
    rows, filled = interpolate([[1.0, 10.0], [None, 20.0], [3.0, None], [4.0, 40.0]])
    assert rows == [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]]
    assert filled == [2, 5]


def test_interpolation_leaves_other_faults_to_the_array_checks() -> None:
    assert interpolate([1.0, "x", 3.0]) == ([1.0, "x", 3.0], [])
    assert interpolate([[1.0], [2.0, 3.0]]) == ([[1.0], [2.0, 3.0]], [])
    with pytest.raises(ValueError, match=r"series\[2\]"):
        interpolate([1.0, 2.0, None])
