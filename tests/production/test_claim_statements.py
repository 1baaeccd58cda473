"""On PostgreSQL a claimed batch is leased and loaded, templates included, in one statement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from herald.kit.channels import Channel
from herald.notifications.models import Delivery, DeliveryState
from herald.runtime import Runtime
from tests.harness import EMAIL_TEMPLATE, Herald, statements_run

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def test_a_claim_leases_and_loads_in_one_statement(herald: Herald, runtime: Runtime) -> None:
    await herald.user()
    await herald.template()
    templated = (await herald.notify(channels=["email"])).json()
    inline = {"email": {"subject": "Hello {{ who }}", "text": "x"}}
    r = await herald.notify(template=None, content=inline, data={"who": "Ada"}, channels=["email"])
    assert r.status_code == 202, r.text
    own = r.json()
    assert runtime.outbox is not None  # PostgreSQL with Redis streams: the outbox is on
    await runtime.outbox.settled()  # the accepts' outbox delete would otherwise land in the window below

    with statements_run(runtime) as statements:
        jobs = await runtime.claim.take(Channel.EMAIL, "w1", 10, timedelta(seconds=30))

    assert len(statements) == 1 and statements[0].startswith("WITH leased AS (UPDATE deliveries"), statements
    works = {j.work.notification.id.hex: j.work for j in jobs if j.work is not None}
    assert len(jobs) == 2 and len(works) == 2
    by_template = works[templated["id"].replace("-", "")]
    assert by_template.channels == EMAIL_TEMPLATE["channels"] and by_template.locales == EMAIL_TEMPLATE["locales"]
    assert works[own["id"].replace("-", "")].channels == inline
    # What was read is the row as leased: sending, under this owner.
    assert {(w.delivery.state, w.delivery.lease_owner) for w in works.values()} == {(DeliveryState.SENDING, "w1")}
    async with runtime.sessions() as session:
        owners = (await session.scalars(select(Delivery.lease_owner).where(Delivery.channel == "email"))).all()
    assert list(owners) == ["w1", "w1"]

    # Leased now: the same entries, claimed again by another worker, are not handed out twice.
    await runtime.broker.publish({Channel.EMAIL: [j.delivery_id for j in jobs]})
    assert await runtime.claim.take(Channel.EMAIL, "w2", 10, timedelta(seconds=30)) == []
