"""Rendering within limits: every hostile template is stopped, cheaply; ordinary ones are not."""

from __future__ import annotations

import tracemalloc

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from herald.channels.email import RenderedEmail
from herald.channels.push import RenderedPush
from herald.channels.registry import spec
from herald.channels.sms import RenderedSms
from herald.kit.channels import Channel
from herald.kit.errors import InvalidTemplate, MissingVariable, RenderFailed, RenderLimit
from herald.templates import compiler
from herald.templates.render import render
from tests.templates.hostile import HOSTILE

PEAK_BYTES = 16 * 1024 * 1024


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_template_is_stopped_without_a_large_allocation(source: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises((RenderLimit, InvalidTemplate)) as exc:
            render(spec(Channel.SMS), {"text": source}, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert exc.value.code in ("render_error", "invalid_template")
    assert exc.value.field == "sms.text"
    assert peak < PEAK_BYTES, f"peak {peak:,} bytes"


def test_the_optimiser_folds_nothing_at_compile_time() -> None:
    tracemalloc.start()
    try:
        compiler.compiled("{{ 'a' * 10**9 }}{{ 9 ** (9 ** 9) }}", False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES


@pytest.mark.parametrize(
    ("source", "data"),
    [
        ("{{ word * times }}", {"word": "ab", "times": 10**6}),
        ("{{ items|join(sep) }}", {"items": list(range(5000)), "sep": "x" * 1000}),
        ("{% for i in items %}{{ i }}{% endfor %}", {"items": list(range(20_000))}),
        ("{{ text|urlize }}", {"text": "see http://x.y " * 2000}),
        ("{{ text.split()|length }}", {"text": "a " * 20_000}),
    ],
)
def test_a_limit_broken_by_the_data_is_a_render_error(source: str, data: dict[str, object]) -> None:
    with pytest.raises(RenderLimit) as exc:
        render(spec(Channel.EMAIL), {"subject": "s", "text": source}, data)
    assert exc.value.code == "render_error" and exc.value.field == "email.text"


def test_output_limits_per_channel() -> None:
    with pytest.raises(RenderLimit) as exc:
        render(spec(Channel.PUSH), {"title": "t", "body": "{{ 'x' * 3900 }}", "data": {"k": "{{ 'y' * 100 }}"}}, {})
    assert exc.value.field == "push"
    push = render(spec(Channel.PUSH), {"title": "t", "body": "{{ 'x' * 3000 }}"}, {})
    assert isinstance(push, RenderedPush) and len(push.body) == 3000
    # JSON escaping counts: 700 control characters are 4,200 bytes on the wire.
    with pytest.raises(RenderLimit):
        render(spec(Channel.PUSH), {"title": "t", "body": "{{ c * 700 }}"}, {"c": "\x01"})
    with pytest.raises(RenderLimit) as exc:
        render(spec(Channel.EMAIL), {"subject": "{{ 'x' * 2001 }}", "text": "t"}, {})
    assert exc.value.field == "email.subject"
    email = render(spec(Channel.EMAIL), {"subject": "s", "html": "{{ 'x' * 900000 }}"}, {})
    assert isinstance(email, RenderedEmail) and email.html is not None and len(email.html) == 900_000


ORDINARY = (
    "{% macro line(i) %}{{ i.name|title }} x{{ i.qty }} = {{ '%.2f'|format(i.qty * i.price) }}{% endmacro %}"
    "{% for i in items|sort(attribute='name') %}{{ loop.index }}. {{ line(i) }}\n{% endfor %}"
    "{{ items|map(attribute='name')|join(', ') }} | {{ '{:>6}'.format(total) }} | {{ 'ok'|center(6) }}|"
    "{{ [1, 2] + [3] }} {{ (1, 2) * 2 }} {{ 'ab' * 2 }} {{ 2 ** 10 }} {{ 7 % 3 }} {{ 'a' ~ 1 ~ none }}"
    "{% set ns = namespace(n=0) %}{% for i in range(5) %}{% set ns.n = ns.n + i %}{% endfor %} {{ ns.n }}"
    " {{ text|wordwrap(10)|indent(2) }} {{ 'a-b-c'.split('-')|batch(2, 'z')|list }} {{ {'k': [1.5, none]} }}"
    "{% for row in items|batch(1) %}{{ row|length }}{% endfor %}{{ text[2:5] }} {{ text is string }}"
)


def test_ordinary_templates_render_as_jinja_renders_them() -> None:
    ctx = {
        "items": [{"name": "pear", "qty": 2, "price": 1.5}, {"name": "apple", "qty": 1, "price": 3}],
        "total": 6,
        "text": "a few words to wrap",
    }
    plain = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    expected = plain.from_string(ORDINARY).render(ctx)
    assert render(spec(Channel.SMS), {"text": ORDINARY}, ctx) == RenderedSms(expected)
    assert "1. Apple x1 = 3.00" in expected


def test_a_namespace_prints_as_its_name() -> None:
    # Its attributes may change after it is put in a list: it cannot be measured once.
    assert render(spec(Channel.SMS), {"text": "{{ namespace(a=1) }}"}, {}) == RenderedSms("<Namespace>")


def test_lists_and_dicts_cannot_be_changed_in_place() -> None:
    with pytest.raises(RenderFailed, match="unsafe"):
        render(spec(Channel.SMS), {"text": "{% set x = [] %}{{ x.append(1) }}"}, {})
    with pytest.raises(RenderFailed, match="unsafe"):
        render(spec(Channel.SMS), {"text": "{{ d.update({'a': 1}) }}"}, {"d": {}})


def test_a_missing_variable_is_still_an_error_when_sending() -> None:
    with pytest.raises(MissingVariable):
        render(spec(Channel.SMS), {"text": "{{ nope * 2 }}"}, {})
