"""A test push to a raw device token (an APNs or FCM token, no stored user), through the
sandbox's simulators; a malformed token is a 422 with its own code, on each backend."""

from __future__ import annotations

import httpx

from tests.delivery import test_channels
from tests.delivery.test_channels import ANDROID, IOS
from tests.harness import EMAIL_TEMPLATE, Herald

stack, full = test_channels.stack, test_channels.full  # every simulator, and a Herald sending to them


async def test_a_test_push_reaches_a_raw_ios_and_android_token(full: Herald) -> None:
    await full.template()
    draft = {**EMAIL_TEMPLATE, "channels": {"push": {"title": "Draft", "body": "Order {{ order_id }}"}}}
    assert (await full.client.put("/v1/templates/order-shipped/draft", json=draft)).status_code == 201
    sent = []
    for platform, token in (("ios", IOS), ("android", ANDROID)):
        body = {"channel": "push", "to": token, "platform": platform, "data": {"order_id": 3}}
        r = await full.client.post("/v1/templates/order-shipped/test-send", json=body)
        assert r.status_code == 202, r.text
        [d] = r.json()["deliveries"]
        assert (d["platform"], d["state"], d["template_version"]) == (platform, "queued", 2)
        sent.append(r.json()["id"])
    await full.drain()
    [apns] = full.inbox.entries(provider="apns", destination=IOS)
    assert apns.body["aps"]["alert"] == {"title": "Draft", "body": "Order 3"}
    [fcm] = full.inbox.entries(provider="fcm", destination=ANDROID)
    assert fcm.body["notification"] == {"title": "Draft", "body": "Order 3"}
    for notification_id in sent:
        [d] = (await full.notification(notification_id))["deliveries"]
        assert d["state"] == "delivered", d


async def test_a_malformed_device_token_is_refused_with_its_own_code(herald: Herald) -> None:
    await herald.template()
    client: httpx.AsyncClient = herald.client
    for body, field in [
        ({"to": "zz" * 40, "platform": "ios"}, "to"),  # not hex
        ({"to": "ab" * 8, "platform": "ios"}, "to"),  # too short for APNs
        ({"to": "fcm token with spaces", "platform": "android"}, "to"),
    ]:
        r = await client.post(
            "/v1/templates/order-shipped/test-send", json={"channel": "push", "version": "live", **body}
        )
        assert r.status_code == 422, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("invalid_device_token", field)
    for body, field in [
        ({"channel": "push", "to": IOS}, "platform"),  # which platform's token?
        ({"channel": "push", "to": IOS, "platform": "web"}, "platform"),  # a subscription is no token
        ({"channel": "email", "to": "qa@example.com", "platform": "ios"}, "platform"),
    ]:
        r = await client.post("/v1/templates/order-shipped/test-send", json={"version": "live", **body})
        assert r.status_code == 422, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("validation_error", field)
    # The same rule for an inline device in any notification; nothing was accepted.
    bad = {"device": {"platform": "ios", "token": "not-hex"}}
    r = await herald.notify(user_id=None, recipient=bad, channels=["push"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "recipient.device.token", r.text
    assert r.json()["error"]["code"] == "invalid_device_token"
    assert (await client.get("/v1/notifications")).json()["items"] == []
