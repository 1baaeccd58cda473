"""A template preview's latency through the API: `flock /tmp/herald-bench.lock python -m bench.preview`.

In process, on the embedded backend (a migrated SQLite file): an app, a layout and a typical
template (an order email of about 12 KB of html extending the layout, a text part, an SMS,
a push, and a French variant of each), then `POST /v1/templates/{key}/preview` over ASGI, for
the draft with its sample data, the same for a stored user, and unsaved content (a console's
preview as one types). Each request renders 6 messages and looks for their problems. The
issue's budget: <= 50 ms for a typical template; p50 and p95 are reported per case.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.report import run_bench
from bench.tracking_cost import HTML, ITEMS, TEXT
from herald.api.app import create_app
from herald.apps.service import create_app as create_client_app
from herald.config import Settings, WorkerSettings
from herald.kit.db import transaction
from herald.migrations import upgrade
from herald.runtime import build_runtime

REPO = Path(__file__).resolve().parent.parent
BUDGET_MS = 50.0
LAYOUT = (
    '<!doctype html><html><head><meta charset="utf-8"><style>body{font-family:Helvetica}</style></head>'
    '<body><header><img src="https://cdn.shop.example/logo.png" alt="{{ brand }}"></header>'
    "{% block body %}{% endblock %}<footer>{{ brand }} · 1 Main St</footer></body></html>"
)
_BODY = HTML.split("<body>", 1)[1].rsplit("</body>", 1)[0]
TEMPLATE: dict[str, Any] = {
    "sample_data": {"order_id": 7, "items": ITEMS, "brand": "Shop", "user": {"name": "Sam"}},
    "channels": {
        "email": {
            "subject": "Order {{ order_id }} shipped",
            "html": '{% extends "frame" %}{% block body %}' + _BODY + "{% endblock %}",
            "text": TEXT,
        },
        "sms": {"text": "Order {{ order_id }} shipped: track it at https://shop.example/t/{{ order_id }}"},
        "push": {"title": "Shipped", "body": "Order {{ order_id }} is on its way", "data": {"order": "{{ order_id }}"}},
    },
    "locales": {
        "fr": {
            "email": {"subject": "Commande {{ order_id }} expédiée", "text": "Bonjour {{ user.name }}"},
            "sms": {"text": "Commande {{ order_id }} expédiée"},
            "push": {"title": "Expédiée", "body": "Commande {{ order_id }}", "data": {}},
        }
    },
}


@dataclass
class Options:
    requests: int = 300
    results_dir: Path = REPO / "bench" / "results"


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.preview", description=__doc__)
    p.add_argument("--requests", type=int, default=300, help="previews per case")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    a = p.parse_args(argv)
    return Options(a.requests, a.results)


def _percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"p50": round(q[49], 2), "p95": round(q[94], 2), "max": round(max(ms), 2)}


async def _case(client: httpx.AsyncClient, body: dict[str, Any], n: int) -> dict[str, Any]:
    for _ in range(10):  # warm: compiled templates cached, connections open
        r = await client.post("/v1/templates/order/preview", json=body)
        assert r.status_code == 200 and r.json()["problems"] == 0, r.text
    ms = []
    for _ in range(n):
        start = time.perf_counter()
        r = await client.post("/v1/templates/order/preview", json=body)
        ms.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200
    return {**_percentiles(ms), "messages": len(r.json()["messages"])}


async def main(o: Options) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/herald.db"
        await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
        settings = Settings(
            data_dir=Path(tmp),
            database_url=url,
            secret_key=SecretStr("bench-secret-key"),
            worker=WorkerSettings(poll_interval=timedelta(seconds=1)),
        )
        rt = build_runtime(settings, single_process=True)
        try:
            async with transaction(rt.sessions) as session:
                creds = await create_client_app(session, "bench", rt.pepper)
            transport = httpx.ASGITransport(app=create_app(rt.api_services()))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://herald.bench", auth=(creds.key, creds.secret)
            ) as client:
                assert (await client.put("/v1/layouts/frame", json={"html": LAYOUT})).status_code == 201
                assert (await client.put("/v1/templates/order/draft", json=TEMPLATE)).status_code == 201
                user = {"name": "Ada", "email": "ada@example.com", "attributes": {"plan": "gold"}}
                assert (await client.put("/v1/users/42", json=user)).status_code in (200, 201)
                data = {"order_id": 8, "items": ITEMS, "brand": "Shop"}
                cases: dict[str, dict[str, Any]] = {
                    "draft, sample data": {},
                    "draft, a stored user": {"user_id": "42", "data": data},
                    "unsaved content": {"template": TEMPLATE},
                }
                results = {name: await _case(client, body, o.requests) for name, body in cases.items()}
        finally:
            await rt.close()
    return {"bench": "preview", "requests_per_case": o.requests, "html_bytes": len(HTML), "cases": results}


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "target": f"preview ({name}) p95 <= {BUDGET_MS:.0f} ms",
            "value": c["p95"],
            "shown": f"p50 {c['p50']} ms, p95 {c['p95']} ms ({c['messages']} messages)",
            "status": "MET" if c["p95"] <= BUDGET_MS else "MISSED",
        }
        for name, c in doc["cases"].items()
    ]


def render(doc: dict[str, Any]) -> None:
    for x in targets(doc):
        print(f"  {x['target']}: {x['shown']} -> {x['status']}")


def cli(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse, main, targets, render)


if __name__ == "__main__":
    sys.exit(cli())
