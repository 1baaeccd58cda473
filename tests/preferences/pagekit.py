"""Driving the hosted preference page as a browser without script would: follow the 303s,
read the form, post it back."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urlencode

import httpx

CATALOGUE: dict[str, Any] = {
    "allowed_origins": [],
    "categories": [
        {"key": "orders", "name": "Order updates", "description": "Shipping and delivery news"},
        {"key": "news", "name": "Newsletter"},
        {"key": "security", "name": "Security alerts", "critical": True},
    ],
    "branding": {"name": "Shop & Co", "colour": "#7A1FA2"},
}
_INPUT = re.compile(r"<input ([^>]*)>")
_ATTR = re.compile(r'([a-z-]+)(?:="([^"]*)")?')


async def catalogue(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> None:
    r = await client.put("/v1/app/settings", json=body or CATALOGUE)
    assert r.status_code == 200, r.text


async def enter(client: httpx.AsyncClient, url: str) -> str:
    """The page's own path, where a way in (`url`) sends the browser."""
    r = await client.get(url)
    assert r.status_code == 303, (r.status_code, r.text)
    location = r.headers["location"]
    assert location.startswith("/preferences/") and "?" not in location
    return location


def inputs(html: str) -> list[dict[str, str]]:
    out = []
    for tag in _INPUT.findall(html):
        out.append({k: unescape(v) for k, v in _ATTR.findall(tag)})
    return out


def switches(html: str) -> dict[str, tuple[bool, bool]]:
    """Each switch the page shows: field -> (checked, disabled)."""
    return {i["value"]: ("checked" in i, "disabled" in i) for i in inputs(html) if i.get("type") == "checkbox"}


def form_of(html: str, turn: dict[str, bool] | None = None) -> list[tuple[str, str]]:
    """The form as a browser posts it, with the switches in `turn` (by field) set so."""
    wanted = turn or {}
    fields: list[tuple[str, str]] = []
    for i in inputs(html):
        if "disabled" in i:
            continue
        ticked = i.get("type") == "checkbox" and wanted.get(i["value"], "checked" in i)
        if i.get("type") == "hidden" or ticked:
            fields.append((i["name"], i["value"]))
    return fields


async def post(client: httpx.AsyncClient, page: str, fields: list[tuple[str, str]]) -> httpx.Response:
    body = urlencode(fields).encode()
    return await client.post(page, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
