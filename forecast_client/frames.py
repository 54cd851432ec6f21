"""pandas in and out (the client's optional `pandas` extra): a Series or DataFrame with a
DatetimeIndex as a dated request body, and a forecast answer as a DataFrame indexed by the
future timestamps, with a column per lower and upper bound of each interval level."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def is_frame(data: Any) -> bool:
    """A pandas Series or DataFrame (without importing pandas when it is not one)."""
    return type(data).__module__.startswith("pandas") and hasattr(data, "index")


def dated_body(data: pd.Series | pd.DataFrame) -> dict[str, Any]:
    """`series`, `timestamps` and `freq` from a DatetimeIndexed Series or DataFrame; missing
    values (NaN) go as nulls, for `missing="interpolate"`."""
    import pandas as pd

    if not isinstance(data.index, pd.DatetimeIndex):
        raise TypeError(f"the data needs a DatetimeIndex, not a {type(data.index).__name__}")
    values = data.astype("float64").to_numpy()
    rows = [[None if v != v else float(v) for v in row] for row in values.reshape(len(data), -1)]
    body: dict[str, Any] = {
        "series": [row[0] for row in rows] if isinstance(data, pd.Series) else rows,
        "timestamps": [t.isoformat() for t in data.index],
    }
    freq = data.index.freqstr or (pd.infer_freq(data.index) if len(data) >= 3 else None)
    if freq:
        body["freq"] = freq
    return body


def columns_of(data: pd.Series | pd.DataFrame) -> list[str]:
    import pandas as pd

    if isinstance(data, pd.Series):
        return ["forecast"]
    return [str(c) for c in data.columns]


def forecast_frame(result: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    """The horizon forecast of a POST /forecast answer, indexed by its timestamps (or by step
    number when undated): `forecast` (or the data's column names) and `lower_80`, `upper_80`,
    ... per level (`<column>_lower_80` for several columns)."""
    import pandas as pd

    steps = result.get("forecast") or []
    dates = result.get("forecast_timestamps")
    index = pd.DatetimeIndex(pd.to_datetime(dates), freq=result.get("freq")) if dates else None
    one = len(columns) == 1
    table: dict[str, Any] = {}
    for k, name in enumerate(columns):
        table[name] = [s if one else s[k] for s in steps]
    for interval in result.get("intervals") or []:
        level = f"{interval['level']:g}"
        for bound in ("lower", "upper"):
            for k, name in enumerate(columns):
                key = f"{bound}_{level}" if one else f"{name}_{bound}_{level}"
                table[key] = [v if one else v[k] for v in interval[bound]]
    return pd.DataFrame(table, index=index)
