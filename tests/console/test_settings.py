"""The settings pages do what the API does, through the same services: credentials go in
and never come out, a webhook's secret and a rotated app secret are shown once."""

from __future__ import annotations

import re

import httpx

from herald.api.app import create_app
from herald.integrations import service as integrations
from herald.kit.uow import unit_of_work
from herald.runtime import Runtime
from tests.console.seed import ConsoleClient, Seeded

TOKEN = "twilio-auth-token-0123456789"


async def test_an_integration_is_added_and_edited_without_its_credential_ever_shown(
    owner: ConsoleClient, seeded: Seeded, runtime: Runtime
) -> None:
    base = f"/console/apps/{seeded.app_id}/settings/integrations"
    form = {"kind": "twilio", "name": "tw-main", "priority": "1", "enabled": "true", "countries": "+44, +33",
            "cfg_account_sid": "AC123", "cfg_auth_token": TOKEN, "cfg_from_number": "+15005550006"}  # fmt: skip
    created = await owner.post(f"{base}/new", form)
    assert created.status_code == 303, created.text
    listed = await owner.get(base)
    assert "tw-main" in listed.text and "AC123" in listed.text and TOKEN not in listed.text
    edit = await owner.get(f"{base}/tw-main/edit")
    assert edit.status_code == 200 and TOKEN not in edit.text and 'value="AC123"' in edit.text
    # Saved again with the credential left blank: the stored one is kept.
    kept = await owner.post(f"{base}/tw-main/edit", {**form, "cfg_auth_token": "", "cfg_account_sid": "AC999"})
    assert kept.status_code == 303, kept.text
    async with unit_of_work(runtime.sessions) as uow:
        stored = await integrations.get(uow, seeded.app_id, "tw-main")
        config = integrations.opened_config(stored, runtime.vault)
    assert config["auth_token"] == TOKEN and config["account_sid"] == "AC999"
    assert stored.countries == {"prefixes": ["+44", "+33"]}
    # A config the provider refuses is a form error, not a 500.
    bad = await owner.post(f"{base}/new", {**form, "name": "tw-2", "cfg_from_number": "", "cfg_auth_token": "x"})
    assert bad.status_code == 422 and "from_number or messaging_service_sid" in bad.text
    dup = await owner.post(f"{base}/new", form)
    assert dup.status_code == 422 and "exists already" in dup.text
    assert (await owner.post(f"{base}/tw-main/delete")).status_code == 303
    assert "No provider accounts of the app's own yet." in (await owner.get(base)).text


async def test_a_webhook_secret_is_shown_once_and_the_endpoint_can_be_disabled(
    owner: ConsoleClient, seeded: Seeded
) -> None:
    base = f"/console/apps/{seeded.app_id}/settings/webhooks"
    invalid = await owner.post(base, {"url": "https://hooks.example.com/h"})
    assert invalid.status_code == 422 and 'id="events-error"' in invalid.text
    denied = await owner.post(base, {"url": "http://169.254.169.254/latest", "events": ["sent"]})
    assert denied.status_code == 422
    created = await owner.post(base, {"url": "https://hooks.example.com/h", "events": ["sent", "failed"]})
    assert created.status_code == 200
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", created.text)
    assert secret is not None
    listed = await owner.get(base)
    assert "https://hooks.example.com/h" in listed.text and secret.group(0) not in listed.text
    endpoint = re.search(r"/settings/webhooks/([0-9a-f-]{36})/disable", listed.text)
    assert endpoint is not None
    assert (await owner.post(f"{base}/{endpoint.group(1)}/disable")).status_code == 303
    assert f"{endpoint.group(1)}/enable" in (await owner.get(base)).text


async def test_a_rotated_app_secret_is_shown_once_and_works_at_once(
    owner: ConsoleClient, seeded: Seeded, runtime: Runtime
) -> None:
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime.api_services())), base_url="http://t")
    rotated = await owner.post(f"/console/apps/{seeded.app_id}/settings/secrets/rotate", {"overlap": "0"})
    assert rotated.status_code == 200 and "shown this once" in rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    found = re.search(r'<code class="secret"[^>]*>([^<]+)</code>', rotated.text)
    assert found is not None
    secret = found.group(1)
    assert (await api.get("/v1/app/settings", auth=(seeded.app_key, secret))).status_code == 200
    assert (await api.get("/v1/app/settings", auth=(seeded.app_key, seeded.app_secret))).status_code == 401
    assert secret not in (await owner.get(f"/console/apps/{seeded.app_id}/settings/secrets")).text
    key = await owner.post(f"/console/apps/{seeded.app_id}/settings/secrets/rotate-end-user-key", {"overlap": "0"})
    assert key.status_code == 200 and "no longer work" in key.text
    await api.aclose()


async def test_an_owner_adds_a_member_and_changes_their_role(owner: ConsoleClient, seeded: Seeded) -> None:
    base = f"/console/apps/{seeded.app_id}/settings/members"
    unknown = await owner.post(base, {"email": "stranger@example.com", "role": "viewer"})
    assert unknown.status_code == 422 and "no console user has the email" in unknown.text
    added = await owner.post(base, {"email": seeded.outsider, "role": "editor"})
    assert added.status_code == 303
    page = (await owner.get(base)).text
    assert f"{seeded.outsider} is now editor of alpha." in page
    assert f"<td>{seeded.outsider}</td>" in page


async def test_pages_carry_a_strict_content_security_policy(owner: ConsoleClient, seeded: Seeded) -> None:
    r = await owner.get(f"/console/apps/{seeded.app_id}/settings/secrets")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.text and not re.search(r"<script(?![^>]*\bsrc=)", r.text)  # no inline script
    assert r.headers["x-frame-options"] == "DENY"
    static = await owner.get("/console/static/vendor/htmx.min.js")
    assert static.status_code == 200 and "htmx" in static.text
