"""What the requests that take a `series` share about its dates: `timestamps`, or `start` and
`freq`, checked against the series (forecasting/calendar.py), and for training, gaps filled.

Mixins, so that each request only names them among its bases."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from service.forecasting.calendar import Calendar, calendar_of, interpolate, season_of_freq
from service.forecasting.spec import TrainSpec

SeasonSource = Literal["season_length", "transform", "freq"]


class Dated(BaseModel):
    """A series dated by `timestamps` (one per row, ISO 8601) or by `start` and `freq`."""

    timestamps: list[str] | None = Field(
        default=None,
        description="ISO 8601, one per row of `series`, strictly increasing and evenly spaced "
        "(at `freq` when given, else at the frequency they follow). The answer is then dated.",
        examples=[["2024-01-01", "2024-02-01", "2024-03-01"]],
    )
    start: str | None = Field(
        default=None,
        description="The first row's timestamp (ISO 8601), with `freq`: instead of `timestamps`.",
        examples=["2024-01-01"],
    )
    freq: str | None = Field(
        default=None,
        description="A pandas offset alias: `D`, `h`, `W-MON`, `MS` (month starts), `ME`, `QS`, "
        "`YS`, `15min`, ... Gives the season (monthly 12, quarterly 4, weekly 52, daily 7, hourly "
        "24) when `season_length` is not set.",
        examples=["MS"],
    )
    _calendar: Calendar | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _dates(self) -> Any:
        dated = not (self.timestamps is None and self.start is None and self.freq is None)
        series = getattr(self, "series", None)
        if not dated:
            return self
        if series is None:
            raise ValueError("`timestamps`, `start` and `freq` date a `series`: send one")
        self._calendar = calendar_of(
            len(series), timestamps=self.timestamps, start=self.start, freq=self.freq
        )
        return self

    @property
    def calendar(self) -> Calendar | None:
        return self._calendar

    def season_from_freq(self) -> int | None:
        return None if self._calendar is None else season_of_freq(self._calendar.freq)


class Gaps(BaseModel):
    """`missing: "interpolate"` fills nulls inside a training series before it is checked."""

    missing: Literal["error", "interpolate"] = Field(
        default="error",
        description="Nulls in `series`: `error` (422 naming the first) or `interpolate` "
        "(linearly in time, inside the series; the count filled is on the model card).",
    )
    _filled: list[int] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _fill(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        filled: list[int] = []
        interpolated = isinstance(data, dict) and data.get("missing") == "interpolate"
        if interpolated and isinstance(data.get("series"), list):
            rows, filled = interpolate(data["series"])
            data = {**data, "series": rows}
        model = handler(data)
        model._filled = filled
        return model

    @property
    def filled(self) -> int:
        return len(self._filled)

    @model_serializer(mode="wrap")
    def _with_gaps(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The request as it was sent, nulls and all, so that a training worker that parses it
        again fills (and counts) the same gaps."""
        out: dict[str, Any] = handler(self)
        series = out.get("series")
        if self._filled and isinstance(series, list):
            for position in self._filled:
                if isinstance(series[0], list):
                    row, column = divmod(position, len(series[0]))
                    series[row][column] = None
                else:
                    series[position] = None
        return out


def seasoned(spec: TrainSpec, dated: Dated) -> tuple[TrainSpec, SeasonSource | None]:
    """The spec to train, with the frequency's usual season when it gives none; and where the
    season came from."""
    if spec.season is not None:
        return spec, "season_length" if spec.season_length else "transform"
    season = dated.season_from_freq()
    if season is None:
        return spec, None
    return spec.model_copy(update={"season_length": season}), "freq"
