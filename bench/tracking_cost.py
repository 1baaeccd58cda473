"""CPU per email of tracking at render time, side by side: `python -m bench.tracking_cost`.

A realistic transactional email (about 12 KB of HTML, 12 links of which a `mailto:`, an
opt-out and the unsubscribe link, and a text part) rendered and composed as the send path
does, then the same with the tracking step after it (links rewritten, pixel, List-Unsubscribe
headers) and, separately, DKIM signing as Herald's SMTP path adds it (an RSA-2048 key).
Best of 5, process time. The issue's budget: tracking costs <= 10% more CPU per delivery
than without it; the worker's whole CPU per email is in the README (about 0.5 ms).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import timeit
import uuid
from collections.abc import Callable
from typing import Any

from herald.channels.base import Meta, Target
from herald.channels.registry import spec
from herald.config import TrackingSettings
from herald.kit.channels import Channel
from herald.kit.ids import uuid7
from herald.providers.messages import EmailMessage
from herald.templates.context import render_context, user_context
from herald.templates.render import render
from herald.tracking.links import Links
from herald.tracking.steps import ONE_CLICK
from herald.tracking.tokens import Kind, TokenCodec

_ROW = (
    '<tr><td style="padding:8px 0;border-bottom:1px solid #eee">'
    '<a href="https://shop.example/p/{{ i.sku }}?utm_source=email&amp;utm_campaign=shipped" '
    'style="color:#0b5fff;text-decoration:none">{{ i.name }}</a></td>'
    '<td align="right" style="padding:8px 0;border-bottom:1px solid #eee">{{ i.qty }} x {{ i.price }}</td></tr>'
)
HTML = (
    '<!doctype html><html><head><meta charset="utf-8"><title>Order {{ order_id }}</title>'
    "<style>body{font-family:Helvetica,Arial,sans-serif;color:#222} .btn{background:#0b5fff;color:#fff}</style>"
    '</head><body><table width="100%" cellpadding="0" cellspacing="0" role="presentation"><tr><td align="center">'
    '<table width="600" cellpadding="0" cellspacing="0" role="presentation">'
    '<tr><td><a href="https://shop.example/"><img src="https://cdn.shop.example/logo.png" alt="Shop" width="120"></a>'
    "</td></tr><tr><td><h1>Your order {{ order_id }} has shipped</h1>"
    "<p>Hi {{ user.name }}, good news: your parcel is on its way. " + "Lorem ipsum dolor sit amet. " * 30 + "</p>"
    '<p><a class="btn" href="https://shop.example/orders/{{ order_id }}/track">Track your parcel</a></p>'
    '<table width="100%">{% for i in items %}' + _ROW + "{% endfor %}</table>"
    "<p>" + "Consectetur adipiscing elit, sed do eiusmod tempor. " * 40 + "</p>"
    '<p>Questions? <a href="mailto:help@shop.example">help@shop.example</a> or '
    '<a href="https://shop.example/help">our help centre</a>.</p>'
    '<p><a data-herald-track="off" href="https://shop.example/account/privacy">Privacy</a> · '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    "</td></tr></table></td></tr></table></body></html>"
)
TEXT = "Hi {{ user.name }}, order {{ order_id }} shipped: https://shop.example/orders/{{ order_id }}/track"
CONTENT = {"subject": "Order {{ order_id }} shipped", "html": HTML, "text": TEXT}
ITEMS = [{"sku": f"SKU-{n}", "name": f"Thing number {n}", "qty": n % 3 + 1, "price": "12.50"} for n in range(8)]


def best(run: Callable[[], Any], number: int) -> float:
    run()
    return min(timeit.repeat(run, number=number, repeat=5, timer=time.process_time)) / number


def main() -> None:
    codec = TokenCodec("bench-secret-key-bench-secret-key")
    links = Links(codec, "https://herald.example.com")
    settings = TrackingSettings()
    channel = spec(Channel.EMAIL)
    user = user_context("Ada Lovelace", "ada@example.com", None, "en", "42", {})
    delivery = uuid7()
    meta = Meta(delivery.hex, uuid.uuid4(), "orders", False, "Ada Lovelace")
    target = Target("ada@example.com")

    def plain() -> EmailMessage:
        ctx = render_context({"order_id": 7, "items": ITEMS}, user, "e1", "orders")
        message: EmailMessage = channel.compose(render(channel, CONTENT, ctx), target, meta)
        return message

    def tracked() -> EmailMessage:
        ctx = render_context({"order_id": 7, "items": ITEMS}, user, "e1", "orders")
        unsubscribe = links.unsubscribe_url(delivery)
        ctx["unsubscribe_url"] = unsubscribe
        m: EmailMessage = channel.compose(render(channel, CONTENT, ctx), target, meta)
        html = links.rewrite(m.html or "", delivery, opens=settings.opens, clicks=settings.clicks)
        headers = (("List-Unsubscribe", f"<{unsubscribe}>"), ONE_CLICK)
        return dataclasses.replace(m, html=html, headers=headers)

    sample = tracked()
    assert sample.html is not None
    print(f"html: {len(plain().html or ''):,} characters rendered, {sample.html.count('/t/c/')} links tracked")
    off, on = best(plain, 2_000), best(tracked, 2_000)
    print(f"render + compose, tracking off  {off * 1e6:8.1f} µs")
    print(f"render + compose, tracking on   {on * 1e6:8.1f} µs  (+{(on - off) * 1e6:.1f} µs)")
    seal = best(lambda: codec.seal(Kind.CLICK, delivery, "https://x.example/a"), 50_000)
    html = plain().html or ""
    rewrite = best(lambda: links.rewrite(html, delivery, opens=True, clicks=True), 2_000)
    print(f"  one token seal                {seal * 1e6:8.2f} µs")
    print(f"  rewrite alone                 {rewrite * 1e6:8.1f} µs")
    dkim_cost(sample)


def dkim_cost(message: EmailMessage) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from pydantic import SecretStr

    from herald.config import DkimKey, SmtpSettings
    from herald.providers.dkim import DkimSigner
    from herald.providers.smtp import SmtpAdapter

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    signer = DkimSigner({"herald.localhost": DkimKey(selector="s1", private_key=SecretStr(pem.decode()))})
    plain, signed = SmtpAdapter(SmtpSettings()), SmtpAdapter(SmtpSettings(), dkim=signer)
    a, b = best(lambda: plain.as_bytes(message), 1_000), best(lambda: signed.as_bytes(message), 300)
    print(f"SMTP bytes, unsigned            {a * 1e6:8.1f} µs")
    print(f"SMTP bytes, DKIM-signed         {b * 1e6:8.1f} µs  (+{(b - a) * 1e6:.1f} µs)")


if __name__ == "__main__":
    asyncio.run(asyncio.sleep(0))
    main()
