"""CPU per render() by channel, best of 5 (process time): `python -m bench.render_cost`.

Run it against two trees to compare (`PYTHONPATH=<tree>/src`): the send path renders every
message, so a change to the sandbox shows here first.
"""

from __future__ import annotations

import functools
import time
import timeit
from typing import Any

from herald.channels.registry import spec
from herald.kit.channels import Channel
from herald.templates.context import render_context, user_context
from herald.templates.render import render

EMAIL = {
    "subject": "Order {{ order_id }} shipped",
    "text": "Hi {{ user.name }}, order {{ order_id }} is on its way.",
    "html": "<p>Hi {{ user.name }}, order <b>{{ order_id }}</b> is on its way.</p>",
}
SMS = {"text": "Order {{ order_id }} shipped"}
PUSH = {"title": "Shipped", "body": "Order {{ order_id }} is on its way", "data": {"order": "{{ order_id }}"}}
LOOP = {
    "subject": "{{ items|length }} items",
    "text": "{% for i in items %}{{ loop.index }}. {{ i.name|upper }} x{{ i.qty }} = {{ i.qty * i.price }}\n"
    "{% endfor %}Total {{ items|sum(attribute='price') }}",
}
CASES: list[tuple[str, Channel, dict[str, Any], int]] = [
    ("email", Channel.EMAIL, EMAIL, 20_000),
    ("sms", Channel.SMS, SMS, 20_000),
    ("push", Channel.PUSH, PUSH, 20_000),
    ("email, loop of 20", Channel.EMAIL, LOOP, 2_000),
]


def main() -> None:
    items = [{"name": f"thing {n}", "qty": n, "price": 3} for n in range(20)]
    user = user_context("Ada", "ada@example.com", None, "en", "42", {})
    ctx = render_context({"order_id": 7, "items": items}, user, "e1", None)
    for name, channel, content, number in CASES:
        run = functools.partial(render, spec(channel), content, ctx)
        run()
        best = min(timeit.repeat(run, number=number, repeat=5, timer=time.process_time))
        print(f"{name:18s} {best / number * 1e6:7.2f} µs")


if __name__ == "__main__":
    main()
