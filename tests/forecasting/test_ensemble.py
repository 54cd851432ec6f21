from __future__ import annotations

import numpy as np
import pytest

from service.forecasting import auto, pipeline, transforms
from service.forecasting.batched import network_forward
from service.forecasting.ensemble import Ensemble
from service.forecasting.evaluation import rolling_forecasts
from service.forecasting.inference import Forecaster
from service.forecasting.metrics import mse
from service.forecasting.pipeline import train_auto, train_series
from service.forecasting.spec import TrainSpec
from service.forecasting.trained import Trained, corrects_a_prior, shrunk
from service.forecasting.training import (
    Progress,
    TrainingCancelled,
    TrainingContext,
    TrainingDiverged,
)
from service.forecasting.windowing import as_2d


def rising(n: int, start: int = 0) -> np.ndarray:
    t = np.arange(start, start + n, dtype=float)
    return 5 + 0.2 * t + np.sin(t / 2)


def network(trained: Trained) -> Forecaster:
    return Forecaster(network_forward(trained.network), trained.preprocessing)


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


@pytest.mark.parametrize("refit_full", [False, True], ids=["as validated", "refit_full"])
def test_auto_keeps_the_best_few_and_measures_them_together(
    monkeypatch: pytest.MonkeyPatch, refit_full: bool
) -> None:
    monkeypatch.setattr(auto, "ENSEMBLE_SIZE", 2)
    spec = TrainSpec.model_validate(
        {
            "architecture": "gru",
            "units": 3,
            "epochs": 4,
            "window": {"length": 5},
            "transforms": "auto",
            "refit_full": refit_full,
        }
    )
    test = rising(30, start=80)
    trained = train_auto(spec, rising(80), test_series=test)
    assert trained.leaderboard is not None
    kept = [c for c in trained.leaderboard if c.kept]
    assert kept == trained.leaderboard[:2]  # the two best by validation
    # Both as trained for validation (without its tail); with refit_full, both retrained on the
    # whole series first.
    networks = [trained, *trained.ensemble]
    copies = 2 if refit_full else 1
    assert [[t.type for t in n.spec.chain] for n in networks if n.spec] == [
        c.transforms for c in kept * copies
    ]
    tail = auto.plan(spec, 80).tail
    assert [n.excluded_rows for n in networks] == [0, 0] * refit_full + [tail, tail]
    if refit_full:
        assert networks[2].examples < networks[0].examples
        assert set(trained.timings) == {"comparing", "retraining", "measuring"}
    else:
        assert set(trained.timings) == {"comparing", "measuring"}
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


def test_kept_networks_correct_a_prior_fitted_again_to_every_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each candidate is validated with its smoothing prior fitted to the rows before the tail
    (no leak); the kept networks correct the same form of prior fitted again to every row."""
    monkeypatch.setattr(auto, "ENSEMBLE_SIZE", 2)
    spec = TrainSpec.model_validate(
        {"architecture": "auto", "units": 3, "epochs": 4, "window": {"length": 5}}
        | {"transforms": [{"type": "smoothing"}]}
    )
    series = as_2d(rising(80) + np.random.default_rng(1).normal(0, 0.3, 80))
    tail = auto.plan(spec, 80).tail
    series[-tail:] += np.linspace(0, 6, tail)[:, None]  # the trend steepens in the tail
    kept, _, _ = auto.choose(
        spec, series, train=lambda c, d, w, p: train_series(c, d, context=w, pad_rows=p)
    )
    stale = transforms.fit(spec.chain, series[:-tail])
    assert len(kept) == 2
    for network in kept:
        assert network.excluded_rows == tail
        chain = network.preprocessing.transforms
        assert chain == transforms.fit(stale, series, keep_form=True) != stale
        assert network.spec is not None
        assert network.spec.chain == chain


def test_a_strided_ensemble_evaluation_from_a_later_row(members: list[Forecaster]) -> None:
    ensemble = Ensemble(members)
    series = rising(40, start=60)
    strided = ensemble.evaluate(series, stride=3, first=9)
    assert strided.t.tolist() == list(range(9, 40, 3))
    every = ensemble.evaluate(series)
    np.testing.assert_allclose(
        strided.predictions, every.predictions[np.isin(every.t, strided.t)], rtol=1e-6
    )


def auto_spec(*, refit_full: bool = True) -> TrainSpec:
    return TrainSpec.model_validate(
        {"architecture": "gru", "units": 3, "epochs": 120, "window": {"length": 5}}
        | {"transforms": "auto", "refit_full": refit_full}
    )


def test_auto_reports_each_training_and_stops_when_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auto, "ENSEMBLE_SIZE", 3)
    events: list[tuple[str | None, int | None, int | None, int]] = []

    def record(p: Progress) -> None:
        events.append((p.stage, p.network, p.networks, p.epoch))

    trained = train_auto(auto_spec(), rising(80), context=TrainingContext(on_progress=record))
    assert len(trained.ensemble) == 2 + 3  # the others retrained, and all three validated
    # Four candidates, then three retrainings, each 120 epochs reported by chunks of 50.
    chunks = [50, 100, 120]
    expected = [("comparing candidates", i, 4, e) for i in range(1, 5) for e in chunks]
    expected += [("retraining the best", i, 3, e) for i in range(1, 4) for e in chunks]
    assert events == expected
    # Cancelled during the second retraining: no further network trains, nothing is returned.
    events.clear()

    def cancel_on_second_retraining() -> bool:
        return ("retraining the best", 2, 3, 50) in events

    with pytest.raises(TrainingCancelled):
        train_auto(
            auto_spec(),
            rising(80),
            context=TrainingContext(on_progress=record, should_cancel=cancel_on_second_retraining),
        )
    assert events[12:] == [  # one chunk of the second, none of the third
        ("retraining the best", 1, 3, 50),
        ("retraining the best", 1, 3, 100),
        ("retraining the best", 1, 3, 120),
        ("retraining the best", 2, 3, 50),
    ]
    # Without refit_full, the candidates are all that trains.
    events.clear()
    trained = train_auto(
        auto_spec(refit_full=False), rising(80), context=TrainingContext(on_progress=record)
    )
    assert len(trained.ensemble) == 2
    assert events == expected[:12]


def test_a_kept_candidate_that_diverges_when_retrained_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auto, "ENSEMBLE_SIZE", 3)
    series = rising(80)
    retrained: list[TrainSpec] = []

    def diverging_second(spec: TrainSpec, data: np.ndarray, **kwargs: object) -> Trained:
        if len(data) == len(series):  # retraining on the whole series, not validating
            retrained.append(spec)
            if len(retrained) == 2:
                raise TrainingDiverged("loss became nan")
        return train_series(spec, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "train_series", diverging_second)
    trained = train_auto(auto_spec(), series)
    assert trained.leaderboard is not None
    # The second best is in the ensemble only as its validation network.
    assert [c.kept for c in trained.leaderboard[:4]] == [True, True, True, False]
    assert trained.leaderboard[1].note == "diverged when retrained on the whole series"
    networks = [trained, *trained.ensemble]
    assert [n.excluded_rows > 0 for n in networks] == [False, False, True, True, True]
    assert networks[1].spec == retrained[2]


def test_a_cancel_while_comparing_candidates_trains_no_further_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def counted(spec: TrainSpec, data: np.ndarray, **kwargs: object) -> Trained:
        calls.append(len(data))
        return train_series(spec, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "train_series", counted)
    with pytest.raises(TrainingCancelled, match="comparing candidates"):
        train_auto(
            auto_spec(),
            rising(80),
            context=TrainingContext(should_cancel=lambda: len(calls) >= 2),
        )
    assert len(calls) == 2  # of four candidates


def test_when_every_candidate_diverges_the_spec_is_blamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def diverging(spec: TrainSpec, data: np.ndarray, **kwargs: object) -> Trained:
        raise TrainingDiverged("training diverged at epoch 3: the loss became nan")

    monkeypatch.setattr(pipeline, "train_series", diverging)
    with pytest.raises(TrainingDiverged, match="every candidate diverged"):
        train_auto(auto_spec(), rising(80))


def test_max_seconds_is_shared_by_every_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four candidates and two retrainings: a sixth each for the candidates, and what is
    left, shared afresh, for the retrainings."""
    monkeypatch.setattr(auto, "ENSEMBLE_SIZE", 2)
    budgets: list[tuple[int, float | None]] = []

    def recorded(spec: TrainSpec, data: np.ndarray, **kwargs: object) -> Trained:
        budgets.append((len(data), spec.max_seconds))
        return train_series(spec, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "train_series", recorded)
    spec = auto_spec().model_copy(update={"max_seconds": 600.0})
    train_auto(spec, rising(80))
    candidates = [b for rows, b in budgets if rows < 80]
    retrainings = [b for rows, b in budgets if rows == 80]
    assert candidates == [100.0] * 4
    assert len(retrainings) == 2
    assert all(b is not None for b in retrainings)
    first, second = (b for b in retrainings if b is not None)
    # The first gets half of what was left, the second all that was left after it.
    assert 600 / 2 - 60 < first <= 600 / 2
    assert 2 * first - 60 < second <= 600
    # Without refit_full, the candidates share all of it.
    budgets.clear()
    train_auto(auto_spec(refit_full=False).model_copy(update={"max_seconds": 600.0}), rising(80))
    assert budgets == [(budgets[0][0], 150.0)] * 4


@pytest.mark.parametrize(
    "extra",
    [
        {"window_normalization": "last"},
        {"transforms": [{"type": "smoothing", "season_length": 4}]},
    ],
    ids=["last value", "smoothing"],
)
def test_a_shrunk_network_keeps_that_share_of_its_correction_to_the_prior(
    extra: dict[str, object],
) -> None:
    spec = TrainSpec.model_validate(
        {"architecture": "gru", "units": 3, "epochs": 30, "window": {"length": 5}, **extra}
    )
    trained = train_series(spec, rising(60))
    assert corrects_a_prior(trained.preprocessing)
    series = rising(30, start=60)
    starts = [16, 20, 24]  # past the smoothing warm-up and the window (min_history 15)
    whole = trained.forecaster().forecast_from(series, starts, horizon=4)
    prior = shrunk(trained, 0.0)
    assert prior.network_share == 0.0
    assert trained.network_share == 1.0
    alone = prior.forecaster().forecast_from(series, starts, horizon=4)
    if "transforms" in extra:  # the smoothing filter's own forecast
        expected = transforms.recurse(
            trained.preprocessing.transforms, as_2d(series), np.asarray(starts), horizon=4,
            back=1, step=auto._nothing,
        )  # fmt: skip
    else:  # the last value, repeated
        expected = np.stack([np.repeat(series[o - 1], 4)[:, None] for o in starts])
    np.testing.assert_allclose(alone, expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(whole, alone, rtol=1e-3)
    # One step is exactly halfway between the prior's and the whole network's.
    half = shrunk(trained, 0.5).forecaster().forecast_from(series, starts, horizon=1)
    np.testing.assert_allclose(half, (whole[:, :1] + alone[:, :1]) / 2, rtol=1e-5, atol=1e-5)


def test_auto_validates_each_candidate_with_the_share_of_its_network_that_forecasts_best(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auto, "ENSEMBLE_SIZE", 2)
    spec = TrainSpec.model_validate(
        {"architecture": "gru", "units": 3, "epochs": 4, "transforms": "auto", "season_length": 4}
        | {"refit_full": True}
    )
    series = rising(80)
    trained = train_auto(spec, series)
    assert trained.leaderboard is not None
    shares = {c.network_share for c in trained.leaderboard if c.validation_mse is not None}
    assert shares <= set(auto.NETWORK_SHARES)
    assert shares
    # Each kept network is served with its candidate's share, retrained or not.
    networks = [trained, *trained.ensemble]
    kept = [c for c in trained.leaderboard if c.kept]
    expected = [1.0 if c.network_share is None else c.network_share for c in kept * 2]
    assert [n.network_share for n in networks] == expected


def test_the_share_kept_is_the_one_whose_rolling_forecasts_validate_best() -> None:
    spec = TrainSpec.model_validate(
        {"architecture": "gru", "units": 3, "epochs": 30, "window": {"length": 5},
         "window_normalization": "last"}
    )  # fmt: skip
    series = as_2d(rising(80) + np.random.default_rng(0).normal(0, 0.3, 80))
    plan = auto.Plan(horizon=4, origins=6)
    trained = train_series(spec, series[: -plan.tail])
    chosen, error = auto._shrink_by_validation(trained, series, plan)
    errors = {}
    for share in auto.NETWORK_SHARES:
        rolled = rolling_forecasts(shrunk(trained, share).forecaster(), series, horizon=4, count=6)
        errors[share] = float(np.mean((rolled.actuals - rolled.forecasts) ** 2))
    assert error == pytest.approx(min(errors.values()), rel=1e-9)
    assert chosen.network_share == min(errors, key=lambda k: errors[k])
