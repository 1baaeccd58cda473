"""Compiling: bounded before Jinja compiles, large sources in the compiler process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from herald.channels.email import RenderedEmail
from herald.channels.registry import spec
from herald.channels.sms import RenderedSms
from herald.kit.channels import Channel
from herald.kit.errors import InvalidTemplate
from herald.templates import compiler, offload
from herald.templates.compiler import INLINE_CHARS, compiled, compiled_async
from herald.templates.render import render, validate

LARGE = "<p>{{ name }}</p>\n" * 2000
PIPES: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}


@pytest.fixture(scope="module", autouse=True)
def _stop_compiler() -> Iterator[None]:
    yield
    offload.shutdown()


async def test_a_large_source_compiles_in_the_compiler_process(monkeypatch: pytest.MonkeyPatch) -> None:
    source = LARGE + "<!-- compiled elsewhere -->"
    assert len(source) > INLINE_CHARS

    def not_here(source: str, html: bool) -> None:
        raise AssertionError("compiled on the event loop's thread")

    monkeypatch.setattr(compiler, "build", not_here)  # the child has its own, untouched
    await compiled_async(source, True)
    monkeypatch.undo()
    assert (source, True) in compiler.CACHE
    out = render(spec(Channel.EMAIL), {"subject": "s", "html": source}, {"name": "<b>"})
    assert isinstance(out, RenderedEmail) and out.html is not None
    assert out.html.count("<p>&lt;b&gt;</p>") == 2000


async def test_a_large_source_that_does_not_compile_is_refused_and_remembered() -> None:
    source = LARGE + "{% if %}"
    with pytest.raises(InvalidTemplate, match="syntax"):
        await compiled_async(source, False)
    assert isinstance(compiler.CACHE.get((source, False)), InvalidTemplate)
    with pytest.raises(InvalidTemplate, match="syntax"):
        compiled(source, False)  # the sync path finds the verdict; it does not compile again


def test_a_small_source_compiles_in_place() -> None:
    assert compiled("Hi {{ name }}", False).template is compiled("Hi {{ name }}", False).template


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% extends 'base' %}", "only for an email's html"),
        ("{% import 'macros' as m %}", "not supported"),
        ("{% from 'macros' import m %}", "not supported"),
        ("{{ x " + "| e " * 200 + "}}", "levels deep"),
        ("{% for x in y %}" * 70 + "{% endfor %}" * 70, "levels deep"),
        ("{{ x }}" * 20_001, "parts"),
        ("{{ name ", "syntax error"),
        ("{{ 1" + "0" * 5000 + " }}", "does not compile"),
    ],
)
def test_what_cannot_compile_safely_is_refused(source: str, reason: str) -> None:
    with pytest.raises(InvalidTemplate, match=reason):
        compiled(source, False)


async def test_save_time_validation_renders_with_the_sample_data() -> None:
    content = {"text": "{{ 'x' * n }}"}
    await validate(spec(Channel.SMS), content, {}, "channels")  # n is missing: judged at send time
    with pytest.raises(InvalidTemplate) as exc:
        await validate(spec(Channel.SMS), content, {"n": 10**9}, "channels")
    assert exc.value.field == "channels.sms.text" and "1,000,000" in exc.value.message


async def test_save_time_validation_exercises_the_constant_parts_whatever_is_missing() -> None:
    content = {"text": "{{ user.nickname|upper }} {{ price * qty }} {% for i in items %}{{ i.x }}{% endfor %}"}
    await validate(spec(Channel.SMS), content, {}, "channels")
    with pytest.raises(InvalidTemplate) as exc:
        await validate(spec(Channel.SMS), {"text": "{{ user.name }}{{ 'a' * 10**9 }}"}, {}, "locales.fr")
    assert exc.value.field == "locales.fr.sms.text"
    with pytest.raises(InvalidTemplate) as exc:
        await validate(spec(Channel.PUSH), {"title": "t", "body": "{{ 'x' * 4000 }}"}, {}, "channels")
    assert exc.value.field == "channels.push"
    with pytest.raises(InvalidTemplate, match="unsafe"):
        await validate(spec(Channel.SMS), {"text": "{{ ''.__class__ }}"}, {}, "channels")
    # What fails only for the data it was given is for send time to judge.
    await validate(spec(Channel.SMS), {"text": "{{ n + 'a' }}"}, {"n": 1}, "channels")


def test_a_trial_render_absorbs_missing_variables() -> None:
    out = render(spec(Channel.SMS), {"text": "[{{ a.b.c }}{{ a * 3 }}{{ a() }}{{ a < 1 }}{{ a|int }}]"}, {}, trial=True)
    assert out == RenderedSms("[False0]")


async def test_a_compiler_process_that_dies_refuses_that_template_and_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offload.shutdown()
    monkeypatch.setattr(offload, "_start", lambda: subprocess.Popen([sys.executable, "-c", "pass"], **PIPES))
    source = LARGE + "<!-- dies -->"
    with pytest.raises(InvalidTemplate, match="compiler process failed"):
        await compiled_async(source, False)
    assert (source, False) not in compiler.CACHE  # not remembered: it may work next time
    monkeypatch.undo()
    assert (await compiled_async(source, False)).template is not None


async def test_a_compile_that_takes_too_long_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    offload.shutdown()
    hang = "import sys, time; sys.stdin.buffer.read(5); time.sleep(60)"
    monkeypatch.setattr(offload, "_start", lambda: subprocess.Popen([sys.executable, "-c", hang], **PIPES))
    monkeypatch.setattr(offload, "TIMEOUT_SECONDS", 0.2)
    with pytest.raises(InvalidTemplate, match="compiler process failed"):
        await compiled_async(LARGE + "<!-- hangs -->", False)
    assert offload._child is None
