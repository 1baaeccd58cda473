"""What an email written in MJML costs per render, best of 5 (process time): `python -m bench.mjml_cost`.

An order confirmation (logo, greeting, a row per item, a button, social links, a footer,
an `<mj-style>`), 10 items: the Jinja render alone; compiling its MJML whole, as a render
would without the compiled shapes (MRML, then css-inline, then both with the checks made
before MRML runs); a render from a compiled shape (what a send pays); and a render that
compiles its shape in the compiler process (wall time).
"""

from __future__ import annotations

import asyncio
import functools
import time
import timeit
from collections.abc import Callable
from typing import Any

from herald.channels.registry import spec
from herald.kit.channels import Channel
from herald.templates import offload, responsive
from herald.templates.context import render_context, user_context
from herald.templates.render import render

MJML = """<mjml>
  <mj-head>
    <mj-title>Order {{ order_id }}</mj-title>
    <mj-preview>Your order {{ order_id }} is on its way</mj-preview>
    <mj-attributes><mj-all font-family="Helvetica, Arial, sans-serif" /><mj-text font-size="14px" /></mj-attributes>
    <mj-style>.total td { font-weight: bold; border-top: 1px solid #ddd } a.small { color: #888 }</mj-style>
  </mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#ffffff">
      <mj-column><mj-image width="120px" src="https://shop.example/logo.png" alt="Shop" /></mj-column>
    </mj-section>
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-text font-size="20px">Hi {{ user.name }},</mj-text>
        <mj-text>Your order <b>{{ order_id }}</b> shipped on {{ shipped_on }}. It should arrive by {{ eta }}.</mj-text>
        <mj-table>
          <tr><th align="left">Item</th><th>Qty</th><th align="right">Price</th></tr>
          {% for i in items %}<tr><td>{{ i.name }}</td><td align="center">{{ i.qty }}</td>
          <td align="right">{{ i.price }}</td></tr>{% endfor %}
          <tr class="total"><td>Total</td><td></td><td align="right">{{ total }}</td></tr>
        </mj-table>
        <mj-button href="https://shop.example/orders/{{ order_id }}" background-color="#1a73e8">Track it</mj-button>
      </mj-column>
    </mj-section>
    <mj-section>
      <mj-column>
        <mj-social mode="horizontal">
          <mj-social-element name="facebook" href="https://facebook.com/shop">Facebook</mj-social-element>
          <mj-social-element name="twitter" href="https://twitter.com/shop">Twitter</mj-social-element>
        </mj-social>
        <mj-text align="center" font-size="11px">Shop Inc, 1 Main St.
          <a class="small" href="{{ prefs }}">Email preferences</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>"""


def _best(run: Callable[[], Any], number: int) -> float:
    run()
    return min(timeit.repeat(run, number=number, repeat=5, timer=time.process_time)) / number


def _ctx(n: int) -> dict[str, Any]:
    items = [{"name": f"Thing number {k}", "qty": k % 3 + 1, "price": f"${k}.99"} for k in range(10)]
    data = {"order_id": 1000 + n, "shipped_on": "May 2", "eta": "May 5", "items": items, "total": "$99.90"}
    data["prefs"] = f"https://herald.example/p/{n}"
    return render_context(data, user_context(f"Customer {n}", None, None, "en", str(n), {}), "e", None)


def main() -> None:
    email = spec(Channel.EMAIL)
    as_text = {"subject": "Order {{ order_id }}", "html": MJML}
    as_mjml = {"subject": "Order {{ order_id }}", "mjml": MJML}
    ctx = _ctx(1)
    text = render(email, as_text, ctx).html or ""
    print(f"MJML {len(MJML):,} characters, rendered {len(text):,}")

    import css_inline
    import mjml

    compiled = mjml.mjml2html(text)
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=True, keep_link_tags=True)
    rows = [
        ("Jinja render alone", _best(functools.partial(render, email, as_text, ctx), 2_000)),
        ("MRML compile", _best(functools.partial(mjml.mjml2html, text), 200)),
        ("css-inline", _best(functools.partial(inliner.inline, compiled), 200)),
        ("compile whole, checked", _best(functools.partial(responsive.compile_mjml, text), 200)),
    ]
    asyncio.run(responsive.settled(lambda: render(email, as_mjml, ctx)))  # its shape compiled once
    calls = iter(range(10**9))
    rows.append(("render from the shape", _best(lambda: render(email, as_mjml, _ctx(next(calls))), 2_000)))
    rows.append(("  of which making its data", _best(lambda: _ctx(next(calls)), 2_000)))
    for name, seconds in rows:
        print(f"{name:24s} {seconds * 1e6:9.1f} µs")

    async def miss() -> float:
        responsive.CACHE.clear()
        start = time.perf_counter()
        await responsive.settled(lambda: render(email, as_mjml, ctx))
        return time.perf_counter() - start

    walls = [asyncio.run(miss()) for _ in range(5)]
    print(f"{'a shape compiled in the compiler process (wall)':24s} {min(walls) * 1e3:.2f} ms")
    offload.shutdown()


if __name__ == "__main__":
    main()
