"""Concurrent requests to one version answered by one runtime call.

A version's joint graphs (forecasting/fused.py) run every member on a batch of windows or
origins, and most of a call's cost is per node, not per row: on bench/serve_latency.py's
machine, the lecture's LSTM forecasts 100 steps from one origin in 2.2 ms and from eight in
4.6 ms. So calls that arrive while another of the same kind (one-step, or a horizon of the same
length) is running wait for it, then run together as the next call, their rows stacked: a group
commit, as databases batch their log writes. A call that finds nothing running starts at once,
so a lone request waits for nothing; under load, batches form by themselves, with no timer to
tune (TF Serving and Ray Serve wait a set time instead, which costs a lone request that time).

Calls made on the event loop (the small requests `usecases.forecasting.runs_inline` answers
there) run alone at once: waiting would block the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np

if TYPE_CHECKING:
    from service.forecasting.fused import Joint

Args = TypeVar("Args")
Result = TypeVar("Result")

MAX_CALLS = 32  # callers one batch takes at most; the rest make the next batch


class _Slot(Generic[Args, Result]):
    __slots__ = ("args", "done", "error", "leads", "result")

    def __init__(self, args: Args) -> None:
        self.args = args
        self.done = threading.Event()
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.leads = False  # woken to run the next batch, not with a result


class Combiner(Generic[Args, Result]):
    """`combiner(key, args)` returns `run(key, [args])[0]`, computed in one `run` with the other
    calls of the same key that queued while the last such `run` ran."""

    def __init__(self, run: Callable[[Hashable, list[Args]], list[Result]]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[_Slot[Args, Result]]] = {}
        self._running: set[Hashable] = set()  # keys with a batch running
        self.batches = 0  # runs made, and the calls they answered: what tests and stats read
        self.calls = 0

    def __call__(self, key: Hashable, args: Args) -> Result:
        if _on_event_loop():
            return self._run(key, [args])[0]
        slot: _Slot[Args, Result] = _Slot(args)
        with self._lock:
            queue = self._queues.setdefault(key, [])
            queue.append(slot)
            # The first in an empty queue runs now; the others wait for the running batch.
            slot.leads = len(queue) == 1 and key not in self._running
            if slot.leads:
                self._running.add(key)
        if not slot.leads:
            slot.done.wait()
        if slot.leads:
            self._lead(key)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self, key: Hashable) -> None:
        """Run the queued calls (this one among them), answer them, and hand the key to the
        first call queued meanwhile, if any."""
        with self._lock:
            queue = self._queues[key]
            batch, queue[:] = queue[:MAX_CALLS], queue[MAX_CALLS:]
        try:
            self._answer(key, batch)
        finally:
            with self._lock:
                queue = self._queues[key]
                after = queue[0] if queue else None
                if after is None:
                    del self._queues[key]
                    self._running.discard(key)
            for slot in batch:
                if slot.result is None and slot.error is None:  # the run was interrupted
                    slot.error = RuntimeError("the combined call was interrupted")
                slot.leads = False
                slot.done.set()
            if after is not None:
                after.leads = True
                after.done.set()

    def _answer(self, key: Hashable, batch: list[_Slot[Args, Result]]) -> None:
        try:
            results = self._run(key, [slot.args for slot in batch])
            self.batches += 1
            self.calls += len(batch)
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
                return
            # One caller's rows must not fail the others': each again, alone.
            for slot in batch:
                self._answer(key, [slot])
            return
        for slot, result in zip(batch, results, strict=True):
            slot.result = result


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class CombinedJoint:
    """A `Joint` whose concurrent calls are combined (`Combiner`): one-step calls together,
    and horizon calls of the same length together, their rows stacked along the batch."""

    def __init__(self, joint: Joint) -> None:
        self.joint = joint
        self.members = joint.members
        self.combiner: Combiner[list[np.ndarray], list[np.ndarray] | np.ndarray] = Combiner(
            self._run
        )

    @property
    def recursive(self) -> bool:
        return self.joint.recursive

    def step(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        result = self.combiner(None, windows)
        assert isinstance(result, list)
        return result

    def ahead(self, histories: list[np.ndarray], horizon: int) -> np.ndarray:
        result = self.combiner(horizon, histories)
        assert isinstance(result, np.ndarray)
        return result

    def _call(self, rows: list[np.ndarray], horizon: int | None) -> list[np.ndarray] | np.ndarray:
        return self.joint.step(rows) if horizon is None else self.joint.ahead(rows, horizon)

    def _run(
        self, key: Hashable, calls: list[list[np.ndarray]]
    ) -> list[list[np.ndarray] | np.ndarray]:
        """`key`: the horizon, or None for one-step calls."""
        assert key is None or isinstance(key, int)
        if len(calls) == 1:  # alone: no copies
            return [self._call(calls[0], key)]
        cuts = np.cumsum([len(call[0]) for call in calls])[:-1]
        stacked = [np.concatenate(rows) for rows in zip(*calls, strict=True)]
        if key is None:
            split = [np.split(out, cuts) for out in self.joint.step(stacked)]  # per member
            return [[member[i] for member in split] for i in range(len(calls))]
        ahead = self.joint.ahead(stacked, key)  # (members, origins, horizon, features)
        return list(np.split(ahead, cuts, axis=1))
