"""Errors and the baselines every reported error stands beside, on exactly the same points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def mse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2))


@dataclass(frozen=True)
class Evaluation:
    """One-step predictions in original units for targets at times `t` of `series` (the target
    columns of the series the windows were cut from, indexed by time)."""

    predictions: np.ndarray
    targets: np.ndarray
    t: np.ndarray
    series: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, part: slice) -> Evaluation:
        return Evaluation(self.predictions[part], self.targets[part], self.t[part], self.series)

    def baselines(self, season_length: int | None) -> dict[str, np.ndarray]:
        """Last value; the value one season back (when the season is known and every target
        has one); drift: the line through the first value and the last one before t."""
        y, t = self.series, self.t
        slope = (y[t - 1] - y[0]) / np.maximum(t - 1, 1)[:, None]
        out = {"naive": y[t - 1], "drift": y[t - 1] + slope}
        if season_length and len(t) and t.min() >= season_length:
            out["seasonal_naive"] = y[t - season_length]
        return out

    def scores(self, season_length: int | None) -> dict[str, float | None]:
        """MSE of the model and of each baseline, and the skill: model MSE over the best
        baseline's (below 1: the network helps)."""
        if len(self) == 0:
            return {}
        errors = {k: mse(self.targets, v) for k, v in self.baselines(season_length).items()}
        model = mse(self.targets, self.predictions)
        best = min(errors.values())
        return {
            "mse": model,
            **{f"{k}_mse": v for k, v in errors.items()},
            "skill": model / best if best > 0 else None,
        }
