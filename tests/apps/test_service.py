"""The app rules: who authenticates, rotation, release of held work, when a delete may run."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from herald.apps import holds, service
from herald.apps.models import App
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.kit.errors import AppBusy, AppNotFound
from herald.kit.secrets import hash_secret
from herald.kit.uow import unit_of_work
from herald.notifications.models import Delivery, DeliveryState
from herald.runtime import Runtime
from tests.harness import Herald


async def _create(runtime: Runtime, name: str = "shop") -> service.AppCredentials:
    async with transaction(runtime.sessions) as session:
        return await service.create_app(session, name, runtime.pepper)


async def _authenticates(runtime: Runtime, key: str, secret: str) -> bool:
    async with runtime.sessions() as session:
        stored = await service.stored_secrets(session, key, runtime.vault)
    return service.verify(stored, secret, runtime.pepper) is not None


async def _set(runtime: Runtime, key: str, **values: object) -> None:
    async with transaction(runtime.sessions) as session:
        await session.execute(update(App).where(App.key_id == key).values(**values))


async def test_only_a_live_secret_authenticates(runtime: Runtime) -> None:
    creds = await _create(runtime)
    assert await _authenticates(runtime, creds.key, creds.secret)
    # The decoy hashed when no old secret is kept must not stand in for one.
    assert not await _authenticates(runtime, creds.key, "x")
    await _set(runtime, creds.key, previous_secret_hash=hash_secret("old", runtime.pepper))
    assert not await _authenticates(runtime, creds.key, "old")  # no expiry: not kept
    await _set(runtime, creds.key, previous_secret_expires_at=utcnow() + timedelta(minutes=1))
    assert await _authenticates(runtime, creds.key, "old")
    await _set(runtime, creds.key, previous_secret_expires_at=utcnow() - timedelta(seconds=1))
    assert not await _authenticates(runtime, creds.key, "old")
    assert not await _authenticates(runtime, "hk_unknown", "x")


async def test_rotating_again_ends_the_earlier_overlap(runtime: Runtime) -> None:
    first = await _create(runtime)
    async with transaction(runtime.sessions) as session:
        second = await service.rotate_secret(session, first.key, runtime.pepper, timedelta(hours=1))
    async with transaction(runtime.sessions) as session:
        third = await service.rotate_secret(session, first.key, runtime.pepper, timedelta(hours=1))
    assert not await _authenticates(runtime, first.key, first.secret)
    assert await _authenticates(runtime, first.key, second.secret)
    assert await _authenticates(runtime, first.key, third.secret)


async def test_a_disabled_app_is_refused_with_its_right_secret(runtime: Runtime) -> None:
    creds = await _create(runtime)
    async with transaction(runtime.sessions) as session:
        await service.disable_app(session, str(creds.app_id))  # by id works as well as by key
    assert not await _authenticates(runtime, creds.key, creds.secret)
    async with transaction(runtime.sessions) as session:
        await service.enable_app(session, creds.key)
    assert await _authenticates(runtime, creds.key, creds.secret)


async def test_an_unknown_app_is_not_found(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        for ref in ("hk_nope", str(uuid.uuid4()), ""):
            with pytest.raises(AppNotFound):
                await service.get_app(session, ref)


async def _deliveries(herald: Herald) -> list[Delivery]:
    async with herald.runtime.sessions() as session:
        return list((await session.scalars(select(Delivery).order_by(Delivery.id))).all())


async def test_release_makes_only_held_deliveries_due(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    for _ in range(2):
        await herald.notify()
    [held, limited] = await _deliveries(herald)
    later = utcnow() + timedelta(hours=1)
    async with transaction(herald.runtime.sessions) as session:
        for d, reason in ((held, holds.REASON), (limited, "rate_limited")):
            await session.execute(update(Delivery).where(Delivery.id == d.id).values(reason=reason, available_at=later))
    async with unit_of_work(herald.runtime.sessions) as uow:
        released = await service.release_held(uow, herald.runtime.broker, herald.runtime.outbox, held.app_id)
    assert released == [held.id]
    [held, limited] = await _deliveries(herald)
    assert held.available_at <= utcnow() and held.reason is None
    assert limited.available_at == later and limited.reason == "rate_limited"


async def test_delete_waits_for_a_settled_disable_and_for_sends_at_a_provider(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    await herald.notify()
    [d] = await _deliveries(herald)
    async with herald.runtime.sessions() as session:
        key = (await session.get_one(App, d.app_id)).key_id

    async def delete() -> None:
        async with transaction(herald.runtime.sessions) as session:
            await service.delete_app(session, key)

    with pytest.raises(AppBusy):  # active
        await delete()
    async with transaction(herald.runtime.sessions) as session:
        await service.disable_app(session, key)
    with pytest.raises(AppBusy):  # workers may not hold its work yet
        await delete()
    await _set(herald.runtime, key, updated_at=utcnow() - holds.SETTLE)
    async with transaction(herald.runtime.sessions) as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == d.id)
            .values(state=DeliveryState.SENDING, lease_owner="w", lease_until=utcnow() + timedelta(minutes=1))
        )
    with pytest.raises(AppBusy, match="1 deliveries of this app are being sent"):
        await delete()
    async with transaction(herald.runtime.sessions) as session:  # the worker died: its lease ran out
        await session.execute(update(Delivery).where(Delivery.id == d.id).values(lease_until=utcnow()))
    await delete()
    assert await _deliveries(herald) == []
