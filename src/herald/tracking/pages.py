"""The unsubscribe pages: small, accessible HTML with no script, no external resource and no
cookie. A form posts to the same signed URL, as a one-click client would (RFC 8058)."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ font: 1rem/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; color: #1a1a1a; }}
button {{ font: inherit; padding: .5rem 1.25rem; border: 2px solid #1a1a1a; border-radius: .25rem;
  background: #1a1a1a; color: #fff; cursor: pointer; }}
button:focus-visible, a:focus-visible {{ outline: 3px solid #0b5fff; outline-offset: 2px; }}
a {{ color: #0b4fd6; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"""


def _what(channel: str, category: str | None) -> str:
    if category:
        return f"<strong>{escape(category)}</strong> messages by {escape(channel)}"
    return f"messages by {escape(channel)}"


def page(title: str, body: str) -> str:
    return _PAGE.format(title=escape(title), body=body)


def confirm(action: str, channel: str, category: str | None) -> str:
    """The question, with a form that answers it."""
    body = (
        f"<p>You will no longer receive {_what(channel, category)} from this sender.</p>\n"
        f'<form method="post" action="{escape(action)}">\n'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">\n'
        '<button type="submit">Unsubscribe</button>\n'
        "</form>"
    )
    return page("Unsubscribe", body)


def _manage(url: str | None) -> str:
    """A link to the user's whole preference page (herald.preferences.pages)."""
    if url is None:
        return ""
    return f'\n<p><a href="{escape(url)}">Choose which messages you receive</a></p>'


def done(channel: str, category: str | None, manage: str | None = None) -> str:
    return page(
        "You are unsubscribed", f"<p>You will no longer receive {_what(channel, category)}.</p>{_manage(manage)}"
    )


def critical(manage: str | None = None) -> str:
    return page(
        "This message cannot be unsubscribed from",
        "<p>It is a critical message (such as a security or account notice), which is always sent."
        f" Nothing was changed.</p>{_manage(manage)}",
    )


def nothing() -> str:
    return page("Nothing to unsubscribe from", "<p>There is no subscription behind this link any more.</p>")


def invalid() -> str:
    return page(
        "This link is not valid",
        "<p>The unsubscribe link is incomplete or has expired. Use the link in a more recent message."
        " (<code>invalid_tracking_link</code>)</p>",
    )
