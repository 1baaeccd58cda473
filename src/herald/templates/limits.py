"""What one render may cost, and what each channel's rendered content may weigh.

Templates are code written by product people and run in the process that also serves the
API and the workers, on one event loop: every bound here exists so that no template, saved
or inline, can stall that loop or fill its memory. A render that breaks one is stopped with
`RenderLimit` (code `render_error`); at save time the same breach is `invalid_template`.
"""

from __future__ import annotations

import orjson

from herald.kit.errors import RenderLimit
from herald.templates.sms import utf16_units

# -- One render (all fields of one message) ------------------------------------------------

# CPU time, measured on the rendering thread so that a preemption on a busy host never fails
# a legitimate render. A real message renders in 5-100 µs; this is headroom of 50x or more.
RENDER_CPU_SECONDS = 0.005
# The clock is read every this many steps (loop iterations, calls, filters, comparisons...):
# a step over a large value can take a millisecond.
CHECK_EVERY = 8
MAX_LOOP_ITERATIONS = 10_000
# Jinja's sandbox allows range() of 100,000 items; a message never needs that many.
MAX_RANGE = 10_000
# Macro calls, recursive loops and `caller()` nested in one another; Python's own stack
# would give out near 150, in the middle of whatever it was doing.
MAX_CALL_DEPTH = 32

# -- Values a template builds ------------------------------------------------------------

# Characters in any string an operation or filter makes, items+characters of any list or
# dict it makes (shared parts counted each time they would be printed), and the size of a
# rendered field. A value from the data may be larger; what is built from it may not.
MAX_VALUE_CHARS = 1_000_000
# Items of any list, tuple or dict a template builds (data from the request may hold more).
MAX_ITEMS = 10_000
MAX_INT_BITS = 4096
# Containers nested inside each other, as far as a value's size is measured.
MAX_VALUE_DEPTH = 64

# Filters that run Python code over every character, in characters per millisecond of CPU
# (measured here): their input may be as long as they get through within the render's budget.
SLOW_FILTERS = {
    "title": 10_000,
    "striptags": 25_000,
    "wordcount": 25_000,
    "urlencode": 25_000,
    "wordwrap": 7_000,
    "urlize": 2_000,
}

# -- Compiling ---------------------------------------------------------------------------

# Nodes of the parsed template: compiling costs about 20-60 µs of CPU per node.
MAX_TEMPLATE_NODES = 20_000
# Statements and expressions nested inside each other (Jinja's parser and compiler recurse).
MAX_TEMPLATE_DEPTH = 64

# -- What each channel may carry ------------------------------------------------------------

# Twilio refuses a body over 1,600 characters; counted in UTF-16 units, as its API counts.
SMS_MAX_UNITS = 1_600
# APNs, FCM and web push each refuse a payload over 4 KB. Herald's fields are measured as the
# JSON a web push carries; the envelope is what providers add: web push's 103 bytes of
# encryption framing and the 41-byte `"key"` member, rounded up (APNs adds about 30, FCM less).
PUSH_MAX_BYTES = 4096
PUSH_ENVELOPE_BYTES = 160
EMAIL_SUBJECT_MAX_CHARS = 2_000
# Per body (html, text). Mail clients clip far earlier (Gmail at 102 KB): this is a bound on
# work, not advice.
EMAIL_BODY_MAX_CHARS = MAX_VALUE_CHARS
PUSH_FIELD_MAX_CHARS = PUSH_MAX_BYTES

# -- MJML (`responsive`) -----------------------------------------------------------------------

# An email's MJML as written, and as rendered: compiling takes 0.1-0.3 ms per KB (measured), and
# MJML's HTML is up to 9 times its size, so a larger one would pass `EMAIL_BODY_MAX_CHARS`.
MJML_MAX_CHARS = 256_000
# Elements nested in one another: MRML parses and renders by recursion, and its stack overflows
# (the process dies) past some 7,000 levels; a real email nests 20 or so.
MJML_MAX_DEPTH = 100
# `<`s in rendered MJML (tags, and would-be tags): telling tags from text costs up to 0.4 µs
# each, on the event loop at every render (4 ms at worst). A long email has a few thousand.
MJML_MAX_TAGS = 10_000


def push_bytes(title: str, body: str, data: dict[str, str]) -> int:
    """The push payload's size in bytes, envelope included."""
    return len(orjson.dumps({"title": title, "body": body, "data": data})) + PUSH_ENVELOPE_BYTES


def check_sms(text: str) -> None:
    if len(text) > SMS_MAX_UNITS // 2 and utf16_units(text) > SMS_MAX_UNITS:
        raise RenderLimit(
            f"the SMS is {utf16_units(text)} characters (UTF-16 units); at most {SMS_MAX_UNITS}",
            field="sms.text",
        )


def check_push(title: str, body: str, data: dict[str, str]) -> None:
    # No character takes more than 6 bytes of JSON (`\u001f`): short payloads need no encoding.
    chars = len(title) + len(body) + sum(map(len, data)) + sum(map(len, data.values()))
    if 6 * chars + 8 * len(data) + 40 + PUSH_ENVELOPE_BYTES <= PUSH_MAX_BYTES:
        return
    size = push_bytes(title, body, data)
    if size > PUSH_MAX_BYTES:
        raise RenderLimit(
            f"the push payload is {size} bytes with the providers' envelope; at most {PUSH_MAX_BYTES}",
            field="push",
        )
