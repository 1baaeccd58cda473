"""A search of the log as CSV: one row per notification, a fixed set of columns.

A notification's deliveries share a row: the delivery columns hold one value per delivery,
in the same order in each, joined by `;` (`email;sms`, `smtp;twilio`). A cell that a
spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage
return) is prefixed with `'`: user ids, event ids and provider codes are the apps' and their
users' text, and a CSV export is opened in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime

from starlette.responses import StreamingResponse

from herald.notifications.models import Delivery, Notification
from herald.notifications.service import status_of

COLUMNS = (
    "id",
    "created_at",
    "event_id",
    "user_id",
    "template",
    "category",
    "critical",
    "send_at",
    "status",
    "channels",
    "states",
    "providers",
    "outcomes",
    "reasons",
    "attempts",
    "finished_at",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SEPARATOR = ";"


def cell(value: object) -> str:
    """A value as a cell a spreadsheet will not evaluate."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def row(n: Notification, deliveries: Sequence[Delivery]) -> list[str]:
    finished = [d.finished_at for d in deliveries if d.finished_at is not None]

    def each(values: Iterable[object]) -> str:
        return SEPARATOR.join("" if v is None else str(v) for v in values)

    values: list[object] = [
        n.id,
        n.created_at,
        n.event_id,
        n.user_id,
        n.template,
        n.category,
        n.critical,
        n.send_at,
        status_of(deliveries),
        each(d.channel for d in deliveries),
        each(d.state for d in deliveries),
        each(d.provider for d in deliveries),
        each(d.outcome for d in deliveries),
        each(d.reason for d in deliveries),
        each(d.attempts for d in deliveries),
        max(finished) if finished else None,
    ]
    return [cell(v) for v in values]


def lines(rows: Iterable[list[str]], *, header: bool = False) -> bytes:
    """Rows (and the header first) as CSV text (RFC 4180 quoting, CRLF line ends), UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode()


Page = Sequence[tuple[Notification, Sequence[Delivery]]]


async def streamed(pages: AsyncIterator[Page], max_rows: int) -> StreamingResponse:
    """The export as a streamed CSV answer (the API's and the console's). The first page is read
    before the answer starts: a failure there is still an error status, not a cut-off 200."""
    first: Page = await anext(pages, [])

    async def body() -> AsyncIterator[bytes]:
        yield lines((row(n, ds) for n, ds in first), header=True)
        async for page in pages:
            yield lines(row(n, ds) for n, ds in page)

    headers = {
        "Content-Disposition": 'attachment; filename="notifications.csv"',
        "Cache-Control": "no-store",
        "X-Export-Max-Rows": str(max_rows),
    }
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)
