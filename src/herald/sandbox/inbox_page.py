"""The inbox as a page: what the simulators accepted, newest first, for a person running
`make run` to see what Herald "sent" without curl or the CLI.

Read-only and server-rendered from the same entries as `GET /_sandbox/inbox`; every value is
escaped (a message's subject is whatever a template made of a user's data), and the page
loads nothing: its one style sheet is inline, allowed by the page's own policy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from herald.providers.registry import KINDS
from herald.sandbox.inbox import InboxEntry, summary

PREVIEW_CHARS = 160
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; background: #fff; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #c8c8c8; padding: .4rem .6rem; text-align: left; vertical-align: top; }
td.text { color: #3d3d3d; max-width: 40rem; overflow-wrap: anywhere; }
td.to { overflow-wrap: anywhere; max-width: 18rem; }
"""
# Only the inline style above: no script, no image, no other origin.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _row(e: InboxEntry) -> str:
    title, text = summary(e.provider, e.body)
    kind = KINDS.get(e.provider)
    at = datetime.fromtimestamp(e.received_at, UTC).strftime("%H:%M:%S")
    cells = [
        f'<th scope="row">{e.seq}</th>',
        f"<td>{at}</td>",
        f"<td>{escape(kind.channel.value if kind else '')}</td>",
        f"<td>{escape(e.provider)}</td>",
        f'<td class="to">{escape(e.destination)}</td>',
        f"<td>{escape(_clip(title))}</td>",
        f'<td class="text">{escape(_clip(text))}</td>',
    ]
    return f'<tr data-provider="{escape(e.provider)}">{"".join(cells)}</tr>'


def render(entries: list[InboxEntry], total: int) -> str:
    """The page for `entries` (oldest first, as the inbox keeps them) of `total` that match."""
    shown = f"the {len(entries)} newest of {total}" if len(entries) < total else f"{total}"
    if entries:
        head = "".join(
            f'<th scope="col">{h}</th>' for h in ("#", "Received (UTC)", "Channel", "Provider", "To", "Subject", "Text")
        )
        rows = "".join(_row(e) for e in reversed(entries))
        listing = (
            f"<table><caption>Messages, newest first</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        listing = "<p>No message yet: what Herald sends in development lands here.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox inbox</title><style>{STYLE}</style></head>
<body><main>
<h1>Sandbox inbox</h1>
<p>What the provider simulators accepted: {shown} message(s), kept in memory (a restart empties it).
As JSON: <a href="/_sandbox/inbox">/_sandbox/inbox</a>; this page takes the same <code>provider</code>,
<code>destination</code> and <code>limit</code>.</p>
{listing}
</main></body></html>
"""
