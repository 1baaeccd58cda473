"""The CSV export: the search's rows in a fixed set of columns, formulas defused, streamed a
page at a time, bounded by the setting."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from herald.activity import export, service
from herald.config import ActivitySettings
from herald.notifications.search import Search
from tests.activity.conftest import Seeded
from tests.harness import Herald

INLINE = {"recipient": {"email": "g@example.com"}, "content": {"email": {"subject": "s", "text": "t"}}}


async def exported(client: httpx.AsyncClient, **params: Any) -> tuple[httpx.Response, list[dict[str, str]]]:
    r = await client.get("/v1/notifications/export.csv", params=params)
    assert r.status_code == 200, r.text
    reader = csv.DictReader(io.StringIO(r.text))
    assert tuple(reader.fieldnames or ()) == export.COLUMNS
    return r, list(reader)


async def test_rows_follow_the_search_with_one_value_per_delivery(
    herald: Herald, other_client: httpx.AsyncClient, seeded: Seeded
) -> None:
    r, rows = await exported(herald.client, channel="sms")
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert [uuid.UUID(row["id"]) for row in rows] == [seeded.ids["n3"], seeded.ids["n2"]]
    n2 = rows[1]
    assert (n2["user_id"], n2["template"], n2["category"], n2["status"]) == (
        "43",
        "welcome",
        "marketing",
        "partially_delivered",
    )
    per_delivery = set(zip(n2["channels"].split(";"), n2["states"].split(";"), n2["providers"].split(";"), strict=True))
    assert per_delivery == {("email", "failed", "sendgrid"), ("sms", "delivered", "twilio")}
    assert n2["reasons"].split(";")[n2["channels"].split(";").index("email")] == "invalid_address"
    _, everything = await exported(herald.client)
    assert len(everything) == 4
    # The other app's export holds its own notification only.
    _, theirs = await exported(other_client)
    assert [uuid.UUID(row["id"]) for row in theirs] == [seeded.ids["o1"]]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.test","x")', '\'=HYPERLINK("http://evil.test","x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("a=1", "a=1"),
        ('comma, "quote"\nnewline', 'comma, "quote"\nnewline'),
    ],
)
async def test_a_cell_a_spreadsheet_would_evaluate_is_defused(herald: Herald, value: str, cell: str) -> None:
    body = {
        "event_id": value,
        "recipient": {"email": "g@example.com"},
        "content": {"email": {"subject": "s", "text": "t"}},
    }
    assert (await herald.client.post("/v1/notifications", json=body)).status_code == 202
    _, rows = await exported(herald.client)
    assert [row["event_id"] for row in rows] == [cell]


def test_cell_values() -> None:
    assert [export.cell(v) for v in (None, True, False, 3, "-", "x")] == ["", "true", "false", "3", "'-", "x"]


async def test_streamed_a_page_at_a_time_and_bounded(herald: Herald, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    for i in range(5):
        body = {
            "event_id": f"e{i}",
            "recipient": {"email": "g@example.com"},
            "content": {"email": {"subject": "s", "text": "t"}},
        }
        ids.append(uuid.UUID((await herald.client.post("/v1/notifications", json=body)).json()["id"]))
    newest_first = ids[::-1]
    app_id, sessions = await _app_id(herald, ids[0]), herald.runtime.sessions

    async def pages(max_rows: int) -> list[list[uuid.UUID]]:
        found = service.export_pages(sessions, app_id, Search(), cursor=None, max_rows=max_rows, page=2)
        return [[n.id for n, _ in page] async for page in found]

    assert await pages(9) == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    assert await pages(3) == [newest_first[0:2], newest_first[2:3]]

    monkeypatch.setattr(service, "EXPORT_PAGE", 2)
    _, rows = await exported(herald.client)
    assert [uuid.UUID(r["id"]) for r in rows] == newest_first
    r, rows = await exported(herald.client, limit=3)
    assert [uuid.UUID(r["id"]) for r in rows] == newest_first[:3] and r.headers["x-export-max-rows"] == "3"
    # The setting caps any limit asked for; the rest follows from the last row's id.
    monkeypatch.setattr(herald.runtime.settings, "activity", ActivitySettings(export_max_rows=4))
    r, rows = await exported(herald.client, limit=100)
    assert len(rows) == 4 and r.headers["x-export-max-rows"] == "4"
    _, rest = await exported(herald.client, cursor=rows[-1]["id"].replace("-", ""))
    assert [uuid.UUID(r["id"]) for r in rows + rest] == newest_first


async def _app_id(herald: Herald, notification_id: uuid.UUID) -> uuid.UUID:
    from herald.notifications.models import Notification

    async with herald.runtime.sessions() as session:
        n = await session.get(Notification, notification_id)
        assert n is not None
        return n.app_id
