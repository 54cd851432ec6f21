from __future__ import annotations

import numpy as np
import pytest

from service.forecasting import auto
from service.forecasting.ensemble import Ensemble
from service.forecasting.inference import Forecaster, keras_forward
from service.forecasting.metrics import mse
from service.forecasting.pipeline import Trained, train_auto, train_series
from service.forecasting.spec import TrainSpec


def rising(n: int, start: int = 0) -> np.ndarray:
    t = np.arange(start, start + n, dtype=float)
    return 5 + 0.2 * t + np.sin(t / 2)


def network(trained: Trained) -> Forecaster:
    return Forecaster(keras_forward(trained.model), trained.preprocessing)


@pytest.fixture(scope="module")
def members() -> list[Forecaster]:
    """Two networks that cut their windows differently: levels relative to the last value, and
    second differences (which use up two rows before the first window)."""
    base = {"architecture": "gru", "units": 3, "epochs": 4, "window": {"length": 5}}
    specs = [base, {**base, "transforms": [{"type": "difference", "order": 2}]}]
    return [network(train_series(TrainSpec.model_validate(s), rising(60))) for s in specs]


def test_evaluate_from_a_later_row_is_the_tail_of_the_full_evaluation(
    members: list[Forecaster],
) -> None:
    series = rising(40, start=60)
    for member in members:
        full = member.evaluate(series)
        assert full.t[0] == member.min_history
        later = member.evaluate(series, first=12)
        assert later.t.tolist() == list(range(12, 40))
        np.testing.assert_allclose(later.predictions, full.predictions[full.t >= 12], rtol=1e-6)
        strided = member.evaluate(series, first=13, stride=3)
        assert strided.t.tolist() == list(range(13, 40, 3))


def test_an_ensemble_averages_its_members_at_the_rows_all_of_them_predict(
    members: list[Forecaster],
) -> None:
    ensemble = Ensemble(members)
    series = rising(40, start=60)
    assert [m.min_history for m in members] == [5, 7]
    assert ensemble.min_history == 7
    evaluation = ensemble.evaluate(series)
    assert evaluation.t.tolist() == list(range(7, 40))
    own = [m.evaluate(series).predictions[-len(evaluation) :] for m in members]
    np.testing.assert_allclose(evaluation.predictions, np.mean(own, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(evaluation.targets, series[7:, None])
    # The members really differ, so the mean is not either of them.
    assert not np.allclose(own[0], own[1], rtol=1e-3)
    ahead = ensemble.forecast(series, horizon=6)
    np.testing.assert_allclose(
        ahead, np.mean([m.forecast(series, horizon=6) for m in members], axis=0), rtol=1e-6
    )


def test_auto_keeps_the_best_few_and_measures_them_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auto, "ENSEMBLE_SIZE", 2)
    spec = TrainSpec.model_validate(
        {
            "architecture": "gru",
            "units": 3,
            "epochs": 4,
            "window": {"length": 5},
            "transforms": "auto",
        }
    )
    test = rising(30, start=80)
    trained = train_auto(spec, rising(80), test_series=test)
    assert trained.leaderboard is not None
    kept = [c for c in trained.leaderboard if c.kept]
    assert kept == trained.leaderboard[:2]  # the two best by validation
    assert len(trained.ensemble) == 1
    assert trained.spec is not None
    assert trained.ensemble[0].spec is not None
    chosen = [trained.spec, trained.ensemble[0].spec]
    assert [[t.type for t in s.chain] for s in chosen] == [c.transforms for c in kept]
    # The card's metrics are the ensemble's, as it will be served.
    served = trained.forecaster()
    assert isinstance(served, Ensemble)
    assert trained.metrics["test_mse"] == pytest.approx(
        mse(served.evaluate(test).targets, served.evaluate(test).predictions), rel=1e-9
    )
    alone = network(trained).evaluate(test)
    assert trained.metrics["test_mse"] != pytest.approx(
        mse(alone.targets, alone.predictions), rel=1e-6
    )
