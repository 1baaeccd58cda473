"""Group commit: single requests that wait for the intake go into the log together."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from herald.kit.errors import ValidationFailed
from herald.kit.grouping import GroupCommit
from herald.notifications.schemas import NotificationIn
from herald.notifications.service import Accepted

APP_A, APP_B = uuid.uuid4(), uuid.uuid4()


def req(event_id: str) -> NotificationIn:
    return NotificationIn.model_validate(
        {"event_id": event_id, "user_id": "42", "template": "t", "channels": ["email"]}
    )


Groups = GroupCommit[uuid.UUID, NotificationIn, Accepted]


class Writer:
    """A stand-in for the log: records each group and answers each item with its own event id
    (as the message of an error, which is all an `Accepted` carries without a database)."""

    def __init__(self) -> None:
        self.groups: list[tuple[uuid.UUID, list[str]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: set[str] = set()  # a write holding one of these event ids: the database is away
        self.poison: set[str] = set()  # a write holding one of these: a bug trips on it
        self.concurrent = self.most_concurrent = 0

    async def __call__(self, app_id: uuid.UUID, reqs: list[NotificationIn]) -> list[Accepted]:
        ids = [r.event_id for r in reqs]
        self.groups.append((app_id, ids))
        self.concurrent += 1
        self.most_concurrent = max(self.most_concurrent, self.concurrent)
        try:
            await self.gate.wait()
            if self.fail & set(ids):
                raise ConnectionError("the database went away")
            if self.poison & set(ids):
                raise ValueError("tripped")
            return [Accepted(False, error=ValidationFailed(i)) for i in ids]
        finally:
            self.concurrent -= 1


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def one_slot(writer: Writer) -> Groups:
    return GroupCommit(writer, asyncio.Semaphore(1), runners=1, max_group=100)


async def behind_a_write(
    groups: Groups, writer: Writer, first: str, then: list[str]
) -> tuple[asyncio.Task[Accepted], list[asyncio.Task[Accepted]]]:
    """`first` is being written (held open until the test sets the gate); `then` arrive
    meanwhile and wait for the next group."""
    writer.gate.clear()
    alone = asyncio.create_task(groups.accept(APP_A, req(first)))
    await settle()
    waiting = [asyncio.create_task(groups.accept(APP_A, req(e))) for e in then]
    await settle()
    return alone, waiting


async def test_requests_arriving_while_one_is_written_go_in_together() -> None:
    writer = Writer()
    groups = one_slot(writer)
    first, rest = await behind_a_write(groups, writer, "e0", [f"e{i}" for i in range(1, 11)])
    assert writer.groups == [(APP_A, ["e0"])]  # alone, at once: nothing waits on purpose
    assert groups.waiting == 10
    writer.gate.set()
    answers = await asyncio.gather(first, *rest)
    assert writer.groups == [(APP_A, ["e0"]), (APP_A, [f"e{i}" for i in range(1, 11)])]
    # Each request gets its own item's result, not its neighbour's.
    assert [a.error.message for a in answers if a.error] == [f"e{i}" for i in range(11)]
    assert groups.waiting == 0


async def test_a_group_waits_for_a_slot_held_elsewhere_and_grows_meanwhile() -> None:
    writer = Writer()
    slots = asyncio.Semaphore(1)
    groups = GroupCommit(writer, slots, runners=4, max_group=100)
    async with slots:  # a batch request is writing
        tasks = [asyncio.create_task(groups.accept(APP_A, req(f"e{i}"))) for i in range(6)]
        await settle()
        assert writer.groups == []
    await asyncio.gather(*tasks)
    assert writer.groups == [(APP_A, [f"e{i}" for i in range(6)])]


async def test_groups_are_one_apps_and_at_most_max_group_long() -> None:
    writer = Writer()
    slots = asyncio.Semaphore(1)
    groups = GroupCommit(writer, slots, runners=2, max_group=3)
    async with slots:
        tasks = [
            asyncio.create_task(groups.accept(app, req(f"{tag}{i}")))
            for i in range(4)
            for app, tag in ((APP_A, "a"), (APP_B, "b"))
        ]
        await settle()
    await asyncio.gather(*tasks)
    assert sorted(writer.groups) == sorted(
        [(APP_A, ["a0", "a1", "a2"]), (APP_B, ["b0", "b1", "b2"]), (APP_A, ["a3"]), (APP_B, ["b3"])]
    )
    assert writer.most_concurrent == 1  # the slot bounds the writes, whatever the runners


async def test_a_failed_write_fails_its_own_group_only() -> None:
    writer = Writer()
    writer.fail = {"bad"}
    doomed, later = await behind_a_write(one_slot(writer), writer, "bad", [f"ok{i}" for i in range(3)])
    writer.gate.set()
    with pytest.raises(ConnectionError):
        await doomed
    assert [a.error.message for a in await asyncio.gather(*later) if a.error] == ["ok0", "ok1", "ok2"]


async def test_a_request_that_breaks_its_groups_write_fails_alone() -> None:
    writer = Writer()
    writer.poison = {"poison"}
    first, rest = await behind_a_write(one_slot(writer), writer, "e0", ["a", "poison", "b"])
    writer.gate.set()
    await first
    a, poison, b = await asyncio.gather(*rest, return_exceptions=True)
    assert isinstance(poison, ValueError)
    assert isinstance(a, Accepted) and isinstance(b, Accepted)
    assert [a.error.message, b.error.message] == ["a", "b"]  # type: ignore[union-attr]
    assert writer.groups[1:] == [(APP_A, ["a", "poison", "b"]), (APP_A, ["a"]), (APP_A, ["poison"]), (APP_A, ["b"])]


async def test_an_outage_fails_the_group_without_trying_each_alone() -> None:
    writer = Writer()
    writer.fail = {"a"}
    first, rest = await behind_a_write(one_slot(writer), writer, "e0", ["a", "b", "c"])
    writer.gate.set()
    await first
    outcomes = await asyncio.gather(*rest, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes), outcomes
    assert writer.groups[1:] == [(APP_A, ["a", "b", "c"])]


async def test_a_request_given_up_on_while_waiting_is_not_written() -> None:
    writer = Writer()
    first, (gone, kept) = await behind_a_write(one_slot(writer), writer, "e0", ["gone", "kept"])
    gone.cancel()
    await settle()
    writer.gate.set()
    await asyncio.gather(first, kept)
    assert writer.groups == [(APP_A, ["e0"]), (APP_A, ["kept"])]
    assert gone.cancelled()


async def test_a_caller_that_goes_away_after_its_group_is_taken_leaves_the_others_answered() -> None:
    writer = Writer()
    groups = one_slot(writer)
    writer.gate.clear()
    leaving = asyncio.create_task(groups.accept(APP_A, req("leaving")))
    staying = asyncio.create_task(groups.accept(APP_A, req("staying")))
    await settle()
    assert writer.groups == [(APP_A, ["leaving", "staying"])]
    leaving.cancel()
    await settle()
    writer.gate.set()
    answer = await staying
    assert answer.error is not None and answer.error.message == "staying"
