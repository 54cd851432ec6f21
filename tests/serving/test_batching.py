"""Concurrent calls combined into one runtime call (serving/batching.py), with real threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.serving.batching import CombinedJoint, Combiner
from service.serving.cache import ModelCache
from service.store.local import ModelStore
from tests.utils import train_body


class Gate:
    """A `run` whose first call blocks until released, so that the calls after it queue."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[int]] = []

    def __call__(self, key: Hashable, calls: list[int]) -> list[int]:
        self.batches.append(list(calls))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if -1 in calls:
            raise ValueError("bad row")
        return [10 * c for c in calls]


def queue_behind_first(combiner: Combiner[int, int], gate: Gate, values: list[int]) -> list:
    """Call `values[0]`, wait until it runs, call the rest while it runs, then release it."""
    with ThreadPoolExecutor(len(values)) as pool:
        first = pool.submit(combiner, "k", values[0])
        assert gate.entered.wait(10)
        rest = [pool.submit(combiner, "k", v) for v in values[1:]]
        while sum(len(q) for q in combiner._queues.values()) < len(values) - 1:
            threading.Event().wait(0.001)
        gate.release.set()
        futures = [first, *rest]
        return [f.exception() or f.result() for f in futures]


def test_calls_made_while_one_runs_run_together_next_each_with_its_own_answer() -> None:
    gate = Gate()
    combiner: Combiner[int, int] = Combiner(gate)
    answers = queue_behind_first(combiner, gate, [1, 2, 3, 4, 5])
    assert answers == [10, 20, 30, 40, 50]
    assert gate.batches[0] == [1]
    assert sorted(gate.batches[1]) == [2, 3, 4, 5]  # one batch, whatever their order
    assert (combiner.batches, combiner.calls) == (2, 5)
    assert combiner._queues == {}
    assert combiner._running == set()


def test_a_failing_call_fails_alone() -> None:
    gate = Gate()
    combiner: Combiner[int, int] = Combiner(gate)
    answers = queue_behind_first(combiner, gate, [1, 2, -1, 4])
    assert answers[:2] == [10, 20]
    assert answers[3] == 40
    assert isinstance(answers[2], ValueError)


def test_a_lone_call_runs_at_once_and_calls_on_the_event_loop_never_wait() -> None:
    calls: list[list[int]] = []

    def run(key: Hashable, batch: list[int]) -> list[int]:
        calls.append(batch)
        return batch

    combiner: Combiner[int, int] = Combiner(run)
    assert combiner("k", 7) == 7

    async def on_loop() -> int:
        combiner._running.add("k")  # as if a batch were running in another thread
        return combiner("k", 8)

    assert asyncio.run(on_loop()) == 8
    assert calls == [[7], [8]]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    from service.schemas.train import TrainRequest
    from service.usecases.training import train_and_store

    store = ModelStore(tmp_path_factory.mktemp("batching"))
    store.open()
    train_and_store(TrainRequest.model_validate(train_body("m")), store)
    return store


def test_combined_forecasts_equal_each_forecast_alone(store: ModelStore) -> None:
    combined = ModelCache(store, capacity=2, max_bytes=2**30).get("m", 1).forecaster
    alone = ModelCache(store, capacity=2, max_bytes=2**30, combine=False).get("m", 1).forecaster
    joint = combined.joint  # type: ignore[attr-defined]
    assert isinstance(joint, CombinedJoint)
    assert not isinstance(alone.joint, CombinedJoint)  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    series = [np.sin(np.arange(40) * 0.3 + p) + rng.normal(0, 0.1, 40) for p in range(16)]
    with ThreadPoolExecutor(8) as pool:
        ahead = list(pool.map(lambda s: combined.forecast(s, horizon=30), series))
        steps = list(pool.map(lambda s: combined.evaluate(s).predictions, series))
    for s, a, p in zip(series, ahead, steps, strict=True):
        np.testing.assert_allclose(a, alone.forecast(s, horizon=30), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(p, alone.evaluate(s).predictions, rtol=1e-6, atol=1e-9)
    assert joint.combiner.calls == 32
