"""/health is public; /metrics is not, and no metric label carries an app's own names."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from herald.providers.registry import reveal
from herald.sandbox.smtp import SmtpSimulator
from tests.harness import Herald


async def test_metrics_are_not_served_without_a_token_configured(herald: Herald) -> None:
    herald.runtime.settings.metrics.token = None
    r = await herald.client.get("/metrics")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await herald.client.get("/health")).json()["status"] == "ok"


async def test_metrics_need_the_bearer_token(herald: Herald) -> None:
    herald.runtime.settings.metrics.token = SecretStr("scrape-me")

    async def scrape(authorization: str | None) -> httpx.Response:
        headers = {"Authorization": authorization} if authorization else {}
        return await herald.client.get("/metrics", headers=headers, auth=None)

    assert (await scrape(None)).status_code == 401
    wrong = await scrape("Bearer scrape-you")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"
    # App credentials are not a scraper's: Basic auth of a valid app is refused too.
    assert (await herald.client.get("/metrics")).status_code == 401
    ok = await scrape("Bearer scrape-me")
    assert ok.status_code == 200 and "herald_attempts_total" in ok.text


async def test_metric_labels_name_the_provider_kind_never_the_apps_account(
    herald: Herald, smtp_sim: SmtpSimulator
) -> None:
    config = reveal(smtp_sim.adapter_config())
    r = await herald.client.put("/v1/integrations/acme-private-relay", json={"kind": "smtp", "config": config})
    assert r.status_code == 201, r.text
    await herald.user()
    await herald.template()
    sent = await herald.notify()
    await herald.drain()
    [d] = (await herald.notification(sent.json()["id"]))["deliveries"]
    assert d["provider"] == "acme-private-relay"  # the app's own record names its account
    herald.runtime.settings.metrics.token = SecretStr("t")
    page = (await herald.client.get("/metrics", headers={"Authorization": "Bearer t"}, auth=None)).text
    assert 'herald_attempts_total{outcome="delivered",provider="smtp"}' in page
    assert "acme-private-relay" not in page
