"""The Queues & providers page: the monitor's snapshot per channel, the providers' breakers as
text (never another app's own accounts), the last hour as JSON for the charts and as a table,
the polled fragment; owners only (deployment-wide operator data), another app's a 404."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

from herald.api.app import create_app
from herald.config import MonitorSettings
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.monitoring.reporter import Reporter
from herald.monitoring.throughput import Throughput, minute_of
from herald.providers.breaker import Breaker
from herald.runtime import Runtime
from tests.console.seed import Browse, ConsoleClient, Seeded
from tests.monitoring.seeding import seed


def queue_row(html: str, channel: str) -> list[str]:
    table = html.split('aria-labelledby="queues-heading"')[1].split("</table>")[0]
    row = table.split(f'<th scope="row">{channel}</th>')[1].split("</tr>")[0]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]


def provider_row(html: str, provider: str) -> str:
    return html.split(f'data-provider="{provider}"')[1].split("</tr>")[0]


async def report(runtime: Runtime, seeded: Seeded) -> None:
    """A worker process's report: the deployment's twilio breaker open, this app's own vonage
    account closed, the other app's sendgrid account; and sms sent in this minute."""
    failing, calm, theirs = Breaker(window=2, min_calls=2), Breaker(min_calls=100), Breaker(min_calls=100)
    for ok in (False, False):
        failing.record(ok)
    for ok in (True, True, False):
        calm.record(ok)
    theirs.record(True)
    runtime.router._breakers = {
        (None, "twilio"): failing,
        (seeded.app_id, "vonage"): calm,
        (seeded.other_app_id, "sendgrid"): theirs,
    }
    clock = [minute_of(utcnow()) + timedelta(seconds=1)]
    throughput = Throughput(lambda: clock[0])
    for seconds in (0.07, 0.07, 0.3):
        throughput.sent("sms", seconds)
    await Reporter(runtime.engine, runtime.router, throughput, MonitorSettings()).publish()


async def test_the_page_shows_the_monitors_snapshot_and_providers(
    runtime: Runtime, owner: ConsoleClient, seeded: Seeded
) -> None:
    await seed(runtime, Channel.EMAIL)
    await report(runtime, seeded)
    page = await owner.get(f"/console/apps/{seeded.app_id}/queues")
    assert page.status_code == 200
    assert "<h1>Queues &amp; providers</h1>" in page.text
    snapshot = await runtime.monitor().snapshot()
    for q in snapshot.queues:
        cells = queue_row(page.text, q.channel)
        numbers = [q.ready, q.in_flight, q.scheduled, q.retrying, q.dead]
        assert cells[:5] == [f"{n:,}" for n in numbers], q.channel
        assert cells[7] == ("unknown" if q.pending is None else f"{q.pending:,}")
    email = queue_row(page.text, "email")
    assert email[:5] == ["3", "2", "1", "2", "1"] and email[5] == "2 min"  # the seeded mix
    twilio = provider_row(page.text, "twilio")
    assert "Open" in twilio and "calls are refused" in twilio and "100.0%" in twilio and "the deployment" in twilio
    vonage = provider_row(page.text, "vonage")
    assert "Closed" in vonage and "33.3%" in vonage and "alpha&#39;s own" in vonage
    assert 'data-provider="sendgrid"' not in page.text  # the other app's own account
    assert 'hx-get="/console/apps/' in page.text and 'hx-trigger="every 5s"' in page.text
    assert 'data-src="/console/apps/' in page.text and "<script>" not in page.text
    table = page.text.split("Sent and latency by minute", 1)[1]
    minute = minute_of(utcnow()).strftime("%H:%M")
    assert f'<th scope="row">{minute}</th>' in table


async def test_the_live_fragment_is_the_tables_alone(runtime: Runtime, owner: ConsoleClient, seeded: Seeded) -> None:
    await report(runtime, seeded)
    r = await owner.http.get(f"/console/apps/{seeded.app_id}/queues/live", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text and 'aria-labelledby="queues-heading"' in r.text
    minute = minute_of(utcnow()).strftime("%H:%M")
    oob = r.text.split('<div id="history-minutes" hx-swap-oob="true">')[1]  # the charts' table, out of band
    assert f'<th scope="row">{minute}</th>' in oob
    assert "Open" in provider_row(r.text, "twilio")


async def test_the_history_json_has_the_last_hour_per_channel(
    runtime: Runtime, owner: ConsoleClient, seeded: Seeded
) -> None:
    await report(runtime, seeded)
    r = await owner.get(f"/console/apps/{seeded.app_id}/queues/history.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"minutes", "channels"}
    assert len(body["minutes"]) == 60 and body["minutes"][-1] == int(minute_of(utcnow()).timestamp())
    assert [c["channel"] for c in body["channels"]] == [c.value for c in Channel.all()]
    sms = next(c for c in body["channels"] if c["channel"] == "sms")
    assert set(sms) == {"channel", "sent", "p50", "p95"} and len(sms["sent"]) == 60
    assert sms["sent"][-1] == 3 and sum(sms["sent"]) == 3
    history = {h.channel: h for h in await runtime.monitor().history(timedelta(hours=1))}
    assert sms["p50"][-1] == history["sms"].points[-1].p50_seconds
    assert sms["p95"][-1] == history["sms"].points[-1].p95_seconds and sms["p95"][0] is None


async def test_owners_only_and_another_apps_page_is_a_404(runtime: Runtime, browse: Browse, seeded: Seeded) -> None:
    await report(runtime, seeded)
    for email in (seeded.viewer, seeded.editor):
        c = await browse()
        assert (await c.login(email)).status_code == 303
        for path in ("queues", "queues/live", "queues/history.json"):
            r = await c.get(f"/console/apps/{seeded.app_id}/{path}")
            assert r.status_code == 403, (email, path)
            assert "minutes" not in r.text
    outsider = await browse()
    assert (await outsider.login(seeded.outsider)).status_code == 303
    for path in ("queues", "queues/live", "queues/history.json"):
        assert (await outsider.get(f"/console/apps/{seeded.app_id}/{path}")).status_code == 404
    # Their own app's page, where they are owner: the deployment's queues, not alpha's accounts.
    own = await outsider.get(f"/console/apps/{seeded.other_app_id}/queues")
    assert own.status_code == 200 and "alpha" not in own.text
    assert 'data-provider="vonage"' not in own.text and "beta&#39;s own" in provider_row(own.text, "sendgrid")


async def test_without_a_monitor_the_page_says_so(runtime: Runtime, seeded: Seeded) -> None:
    app = create_app(dataclasses.replace(runtime.api_services(), monitor=None))
    c = ConsoleClient(app)
    try:
        assert (await c.login(seeded.owner)).status_code == 303
        page = await c.get(f"/console/apps/{seeded.app_id}/queues")
        assert page.status_code == 200 and "Monitoring is not available" in page.text
        assert (await c.get(f"/console/apps/{seeded.app_id}/queues/history.json")).json() == {
            "minutes": [],
            "channels": [],
        }
    finally:
        await c.aclose()
