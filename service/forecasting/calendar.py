"""Dates of a series: its timestamps parsed, checked and stepped with pandas' offsets (`D`, `h`,
`W-MON`, `MS`, `QS`, ...), the usual season of a frequency, and gaps filled in time.

A series is evenly spaced: row i is `first + i * offset`. Errors are ValueErrors whose message
names the field, the first offending index and both timestamps."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset


def parse_freq(freq: str, *, field: str = "freq") -> BaseOffset:
    """A pandas offset alias; a deprecated one (`M`, `H`) is refused with pandas' advice."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            offset = to_offset(freq)
    except (ValueError, TypeError, Warning) as error:  # a deprecated alias warns on pandas 2
        raise ValueError(
            f"{field} {freq!r} is not a pandas offset alias (D, h, W-MON, MS, QS, ...): {error}"
        ) from None
    if offset is None or offset.n < 1:
        raise ValueError(f"{field} {freq!r} does not step forward in time")
    return offset


def parse_timestamps(values: Sequence[str], *, field: str = "timestamps") -> pd.DatetimeIndex:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = pd.to_datetime(list(values), format="ISO8601")
    except Exception as error:  # pandas raises several kinds for a bad date
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{field}: not ISO 8601 timestamps of one time zone: {reason}") from None
    if not isinstance(parsed, pd.DatetimeIndex):
        raise ValueError(f"{field}: not ISO 8601 timestamps of one time zone")
    if parsed.hasnans:
        raise ValueError(f"{field}[{int(np.argmax(parsed.isna()))}] is not a timestamp")
    return parsed


def parse_timestamp(value: str, *, field: str) -> pd.Timestamp:
    return parse_timestamps([value], field=field)[0]


@dataclass(frozen=True)
class Calendar:
    """Row i of a series is at `first + i * offset`; `rows` rows."""

    first: pd.Timestamp
    offset: BaseOffset
    rows: int

    @property
    def freq(self) -> str:
        return str(self.offset.freqstr)

    @property
    def last(self) -> pd.Timestamp:
        return self.at([self.rows - 1])[0]

    def dates(self, positions: Sequence[int] | np.ndarray) -> pd.DatetimeIndex:
        """The timestamps of rows at `positions` (past the end too)."""
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return pd.DatetimeIndex([], tz=self.first.tz)
        index = pd.date_range(self.first, periods=int(positions.max()) + 1, freq=self.offset)
        return index[positions]

    def at(self, positions: Sequence[int] | np.ndarray) -> list[pd.Timestamp]:
        return list(self.dates(positions))

    def iso(self, positions: Sequence[int] | np.ndarray) -> list[str]:
        return [t.isoformat() for t in self.dates(positions)]

    def ahead(self, steps: int) -> list[str]:
        """The `steps` timestamps right after the last row."""
        return self.iso(np.arange(self.rows, self.rows + steps))


def calendar_of(
    rows: int,
    *,
    timestamps: Sequence[str] | None,
    start: str | None,
    freq: str | None,
) -> Calendar | None:
    """The series' calendar from `timestamps` (freq inferred when not given) or `start` + `freq`;
    None when undated."""
    if timestamps is not None and start is not None:
        raise ValueError("give either `timestamps` or `start` (with `freq`), not both")
    if timestamps is None and start is None:
        if freq is not None:
            raise ValueError("`freq` dates a series from `start` or `timestamps`: give one")
        return None
    if start is not None:
        if freq is None:
            raise ValueError("`start` needs `freq` to step the series' timestamps")
        return _from_start(parse_timestamp(start, field="start"), parse_freq(freq), rows)
    assert timestamps is not None
    if len(timestamps) != rows:
        raise ValueError(f"timestamps has {len(timestamps)} items, series has {rows} rows")
    index = parse_timestamps(timestamps)
    offset = parse_freq(freq) if freq is not None else _inferred(index)
    calendar = _from_start(index[0], offset, rows)
    _check_follows(index, calendar.dates(np.arange(rows)), calendar.freq)
    return calendar


def _from_start(first: pd.Timestamp, offset: BaseOffset, rows: int) -> Calendar:
    if not offset.is_on_offset(first):
        raise ValueError(
            f"the first timestamp {first.isoformat()} is not on freq {offset.freqstr!r} "
            f"(the next one that is: {(first + offset).isoformat()})"
        )
    return Calendar(first, offset, rows)


def _inferred(index: pd.DatetimeIndex) -> BaseOffset:
    """The frequency the timestamps follow; else the first step that breaks the spacing."""
    _check_increasing(index)
    if len(index) < 2:
        raise ValueError("one timestamp has no spacing: give `freq` too")
    inferred = _infer_freq(index) if len(index) >= 3 else None
    if inferred is not None:
        return inferred
    steps = index[1:] - index[:-1]
    uneven = np.flatnonzero(steps != steps[0])
    if len(uneven):
        i = int(uneven[0])
        raise ValueError(
            f"timestamps[{i + 1}] ({index[i + 1].isoformat()}) is {steps[i]} after "
            f"timestamps[{i}] ({index[i].isoformat()}), the first step is {steps[0]}: "
            "timestamps must be evenly spaced (a gap? give `freq` to say which is meant)"
        )
    return parse_freq(pd.tseries.frequencies.to_offset(steps[0]).freqstr)


def _infer_freq(index: pd.DatetimeIndex) -> BaseOffset | None:
    """pandas' inferred frequency as an offset: pandas 3.1 returns one under an option (and warns
    when asked for the string), earlier versions only give the alias."""
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            inferred = pd.infer_freq(index)
    except pd.errors.OptionError:  # pandas before 3.1: the alias string, never a warning
        inferred = pd.infer_freq(index)
    return None if inferred is None else to_offset(inferred)


def _check_increasing(index: pd.DatetimeIndex) -> None:
    steps = np.asarray(index[1:] - index[:-1])
    bad = np.flatnonzero(steps <= np.timedelta64(0))
    if len(bad):
        i = int(bad[0]) + 1
        word = "repeats" if index[i] == index[i - 1] else "comes before"
        raise ValueError(
            f"timestamps[{i}] ({index[i].isoformat()}) {word} timestamps[{i - 1}] "
            f"({index[i - 1].isoformat()}): timestamps must be strictly increasing"
        )


def _check_follows(index: pd.DatetimeIndex, expected: pd.DatetimeIndex, freq: str) -> None:
    _check_increasing(index)
    off = np.flatnonzero(index != expected)
    if len(off):
        i = int(off[0])
        raise ValueError(
            f"timestamps[{i}] is {index[i].isoformat()}, but timestamps[{i - 1}] is "
            f"{index[i - 1].isoformat()} and at freq {freq!r} the next is "
            f"{expected[i].isoformat()}: timestamps must be evenly spaced, without gaps"
        )


# statsforecast's and R's usual seasons, for offsets of one unit.
_SEASONS: tuple[tuple[type[BaseOffset], int], ...] = (
    (pd.offsets.MonthBegin, 12),
    (pd.offsets.MonthEnd, 12),
    (pd.offsets.BusinessMonthBegin, 12),
    (pd.offsets.BusinessMonthEnd, 12),
    (pd.offsets.QuarterBegin, 4),
    (pd.offsets.QuarterEnd, 4),
    (pd.offsets.BQuarterBegin, 4),
    (pd.offsets.BQuarterEnd, 4),
    (pd.offsets.Week, 52),
    (pd.offsets.Day, 7),
    (pd.offsets.Hour, 24),
)


def season_of_freq(freq: str) -> int | None:
    """Monthly 12, quarterly 4, weekly 52, daily 7, hourly 24; None for anything else."""
    offset = parse_freq(freq)
    if offset.n != 1:
        return None
    return next((m for kind, m in _SEASONS if isinstance(offset, kind)), None)


def interpolate(rows: list[Any], *, field: str = "series") -> tuple[list[Any], list[int]]:
    """Nulls inside a 1-D or 2-D series filled linearly (in time: the rows are evenly spaced);
    returns the filled rows and the flat positions filled. A null before the first or after the
    last value of its column has nothing to interpolate from: a ValueError naming it. Anything
    else that is not a number (or a ragged row) is left for the array's own checks to name."""
    nested = bool(rows) and isinstance(rows[0], list)
    if not rows or any(isinstance(r, list) != nested for r in rows):
        return rows, []
    table = [r if nested else [r] for r in rows]
    if any(len(r) != len(table[0]) for r in table):
        return rows, []
    cells = np.array(table, dtype=object)
    missing = np.vectorize(lambda v: v is None, otypes=[bool])(cells)
    numeric = np.vectorize(_number, otypes=[np.float64])(cells)
    filled = np.asarray(pd.DataFrame(numeric).interpolate(method="linear", limit_area="inside"))
    left = np.argwhere(missing & np.isnan(filled))
    if len(left):
        r, c = (int(v) for v in left[0])
        index = f"[{r}][{c}]" if nested else f"[{r}]"
        raise ValueError(
            f"{field}{index} is null before the first or after the last value of its column: "
            "interpolation fills gaps inside the series; cut the series there"
        )
    out = np.where(missing, filled, cells).tolist()
    positions = [int(p) for p in np.flatnonzero(missing)]
    return (out if nested else [row[0] for row in out]), positions


def _number(value: Any) -> float:
    return float(value) if type(value) in (int, float) else np.nan
