"""The simulators' callback dispatcher: delay, retries, duplicates, drops, reordering, a seed,
the record of what was answered 2xx, and its control routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import aiohttp
import orjson
import pytest

from herald.sandbox.callbacks import Batcher, Callback, CallbackSettings, Dispatcher, with_headers
from herald.sandbox.faults import Faults
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox
from tests.providers.receiver import Receiver, receiver

FAST = {"delay_ms": 0.0, "retry_backoff_ms": 1.0, "step_ms": 1.0, "batch_window_ms": 1.0}


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as box:
        yield box


@pytest.fixture
async def dispatcher() -> AsyncIterator[Dispatcher]:
    d = Dispatcher("test", CallbackSettings(**FAST))
    yield d
    await d.close()


def numbered(url: str, n: int) -> Iterable[Callback]:
    sign = with_headers(lambda c: {"X-Sig": "sig-" + (c.form or {})["n"]})
    return (Callback(url, form={"n": str(i)}, sign=sign, key=f"k{i}", event="sent") for i in range(n))


async def test_delivers_signed_and_records_what_was_answered(hook: Receiver, dispatcher: Dispatcher) -> None:
    for cb in numbered(hook.url(query="a=1"), 3):
        dispatcher.submit(cb)
    await dispatcher.drain()
    assert sorted(c.form["n"] for c in hook.calls) == ["0", "1", "2"]
    assert all(c.headers["X-Sig"] == "sig-" + c.form["n"] for c in hook.calls)
    assert all(c.url.endswith("/hook?a=1") for c in hook.calls)
    done = dispatcher.delivered()
    assert [r.outcome for r in done] == ["delivered"] * 3
    view = dispatcher.describe()
    assert view["counts"] == {"pending": 0, "delivered": 3, "failed": 0, "dropped": 0, "duplicates": 0}
    assert {(c["key"], c["payload"]["n"], c["headers"]["X-Sig"]) for c in view["callbacks"]} == {
        ("k0", "0", "sig-0"),
        ("k1", "1", "sig-1"),
        ("k2", "2", "sig-2"),
    }


async def test_retries_non_2xx_with_backoff_then_succeeds(hook: Receiver, dispatcher: Dispatcher) -> None:
    hook.answers = [500, 503]
    [record] = dispatcher.submit(Callback(hook.url(), body=b"[1]", headers={"Content-Type": "application/json"}))
    await dispatcher.drain()
    assert (record.outcome, record.attempts, record.status) == ("delivered", 3, 200)
    assert hook.failed == 2 and [c.body for c in hook.calls] == [b"[1]"]
    assert record.to_json()["payload"] == [1]


async def test_gives_up_after_the_last_attempt(hook: Receiver) -> None:
    d = Dispatcher("test", CallbackSettings(**FAST, attempts=2))
    hook.answers = [500, 500, 500]
    [record] = d.submit(Callback(hook.url(), form={"a": "b"}))
    await d.drain()
    await d.close()
    assert (record.outcome, record.attempts, record.status) == ("failed", 2, 500)
    assert hook.failed == 2 and not hook.calls
    assert d.delivered() == []


async def test_unreachable_receiver_is_retried_then_failed() -> None:
    d = Dispatcher("test", CallbackSettings(**FAST, attempts=3))
    [record] = d.submit(Callback("http://127.0.0.1:9/nothing-listens", form={"a": "b"}))
    await d.drain()
    await d.close()
    assert (record.outcome, record.attempts, record.status) == ("failed", 3, None)


def plan(seed: int) -> list[tuple[int, bool, str, float]]:
    d = Dispatcher(
        "test",
        CallbackSettings(delay_ms=5, duplicate_rate=0.4, drop_rate=0.3, reorder_window_ms=40, seed=seed),
    )
    d._closed = True  # plan only: nothing is started
    for cb in numbered("http://127.0.0.1:9/", 30):
        d.submit(cb)
    return [(r.seq, r.duplicate, r.outcome, r.due_in_ms) for r in d.records]


def test_the_same_seed_plans_the_same_duplicates_drops_and_delays() -> None:
    first, again, other = plan(7), plan(7), plan(8)
    assert first == again
    assert first != other
    assert any(dup for _, dup, _, _ in first)
    assert any(outcome == "dropped" for _, _, outcome, _ in first)
    dues = [due for _, _, _, due in first]
    assert dues != sorted(dues)  # a later callback is due before an earlier one: reordering
    assert all(5 <= due <= 45 for due in dues)


async def test_duplicates_and_drops_reach_the_receiver_as_planned(hook: Receiver) -> None:
    settings = CallbackSettings(**{**FAST, "reorder_window_ms": 20.0}, duplicate_rate=0.5, drop_rate=0.3, seed=3)
    d = Dispatcher("test", settings)
    for cb in numbered(hook.url(), 20):
        d.submit(cb)
    await d.drain()
    await d.close()
    sent = [r for r in d.records if r.outcome != "dropped"]
    assert {r.outcome for r in sent} == {"delivered"}
    assert sorted(c.form["n"] for c in hook.calls) == sorted((r.callback.form or {})["n"] for r in sent)
    counts = d.describe()["counts"]
    assert counts["duplicates"] > 0 and counts["dropped"] > 0
    assert counts["delivered"] == len(hook.calls) == len(d.records) - counts["dropped"]
    copies = [(r.callback.form or {})["n"] for r in sent]
    twice = {n for n in copies if copies.count(n) == 2}
    assert twice and all(sum(c.form["n"] == n for c in hook.calls) == 2 for n in twice)


async def test_status_steps_are_spaced(dispatcher: Dispatcher) -> None:
    dispatcher.configure(CallbackSettings(delay_ms=200, step_ms=50))
    dispatcher._closed = True
    records = dispatcher.submit_all(numbered("http://127.0.0.1:9/", 3))
    assert [r.due_in_ms for r in records] == [200, 250, 300]


async def test_close_abandons_what_is_not_yet_sent(hook: Receiver) -> None:
    d = Dispatcher("test", CallbackSettings(delay_ms=60_000))
    [record] = d.submit(Callback(hook.url(), form={"a": "b"}))
    await d.close()
    assert record.outcome == "failed" and record.attempts == 0
    assert not hook.calls
    assert d.submit(Callback(hook.url(), form={"a": "b"}))[0].outcome == "pending"  # never started
    assert d.pending == 0


async def test_batcher_gathers_events_into_one_callback_each_batch(hook: Receiver, dispatcher: Dispatcher) -> None:
    def build(events: list[int]) -> Callback:
        return Callback(hook.url(), body=orjson.dumps(events), headers={"Content-Type": "application/json"})

    batcher: Batcher[int] = Batcher(dispatcher, build)
    for n in range(5):
        batcher.add(n)
    batcher.add(99, step=1)
    await dispatcher.drain()
    bodies = sorted(orjson.loads(c.body) for c in hook.calls)
    assert bodies == [[0, 1, 2, 3, 4], [99]]

    hook.calls.clear()
    dispatcher.configure(CallbackSettings(**FAST, batch_max=2))
    for n in range(5):
        batcher.add(n)
    await dispatcher.drain()
    assert sorted(orjson.loads(c.body) for c in hook.calls) == [[0, 1], [2, 3], [4]]


class _Calls:
    name = "calls"

    def __init__(self) -> None:
        self.faults = Faults()
        self.callbacks = Dispatcher("calls", CallbackSettings(**FAST))

    def routes(self) -> list[object]:
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.callbacks.close()


class _Silent(_Calls):
    name = "silent"

    def __init__(self) -> None:
        super().__init__()
        del self.callbacks

    async def stop(self) -> None:
        return None


async def test_control_routes(hook: Receiver) -> None:
    sim = _Calls()
    sandbox = Sandbox([sim, _Silent()], Inbox())  # type: ignore[list-item]
    port = await sandbox.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}/_sandbox"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{base}/calls/callbacks", json={"delay_ms": 0, "drop_rate": 0.5, "seed": 1}) as r:
                assert r.status == 200
                assert (await r.json())["settings"]["drop_rate"] == 0.5
            for cb in numbered(hook.url(), 6):
                sim.callbacks.submit(cb)
            async with http.post(f"{base}/calls/callbacks/drain") as r:
                counts = (await r.json())["counts"]
            assert counts["delivered"] == len(hook.calls) and counts["dropped"] == 6 - len(hook.calls)
            async with http.get(f"{base}/calls/callbacks", params={"outcome": "delivered"}) as r:
                listed = (await r.json())["callbacks"]
            assert sorted(c["payload"]["n"] for c in listed) == sorted(c.form["n"] for c in hook.calls)
            assert all(c["status"] == 200 and c["url"] == hook.url() for c in listed)
            async with http.get(f"{base}/calls/callbacks", params={"since": "3", "limit": "2"}) as r:
                assert [c["seq"] for c in (await r.json())["callbacks"]] == [4, 5]
            async with http.put(f"{base}/calls/callbacks", json={"drop_rate": 2}) as r:
                assert r.status == 400
            async with http.get(f"{base}/calls/callbacks", params={"since": "x"}) as r:
                assert r.status == 400
            async with http.get(f"{base}/silent/callbacks") as r:
                assert r.status == 404
            async with http.delete(f"{base}/calls/callbacks") as r:
                body = await r.json()
            assert body["settings"] == CallbackSettings().model_dump() and body["counts"]["delivered"] == 0
    finally:
        await sandbox.stop()
