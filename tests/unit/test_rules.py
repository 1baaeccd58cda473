"""Pure rules of the send path: preferences, rate limits, the retry ladder, the breaker, rendering."""

from __future__ import annotations

import os
import random
from datetime import timedelta

import pytest

from herald.channels.email import RenderedEmail
from herald.channels.push import RenderedPush
from herald.channels.registry import spec
from herald.config import RetrySettings
from herald.delivery.retry import exhausted, next_delay
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.errors import MissingVariable, RenderFailed
from herald.kit.ids import uuid7
from herald.preferences.rules import allows
from herald.providers.breaker import Breaker
from herald.ratelimit.gcra import MemoryRateLimiter
from herald.templates.render import pick, render


def test_most_specific_preference_wins() -> None:
    rules = {("email", "*"): False, ("*", "marketing"): False, ("email", "marketing"): True}
    assert allows(rules, "email", "marketing") is True
    assert allows(rules, "sms", "marketing") is False
    assert allows(rules, "email", "orders") is False
    assert allows(rules, "sms", None) is True
    assert allows({}, "push", "anything") is True


async def test_gcra_allows_limit_then_waits() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    assert [await limiter.acquire("k", 3, 60) for _ in range(3)] == [None, None, None]
    wait = await limiter.acquire("k", 3, 60)
    assert wait is not None and 19.9 < wait <= 20.0
    assert await limiter.acquire("other", 3, 60) is None
    now[0] += wait
    assert await limiter.acquire("k", 3, 60) is None
    assert await limiter.acquire("k", 3, 60) is not None


def test_retry_ladder_grows_and_respects_retry_after() -> None:
    policy = RetrySettings(base=timedelta(seconds=1), factor=3, cap=timedelta(seconds=60))
    rng = random.Random(7)
    delays = [next_delay(n, policy, rng=rng) for n in (1, 2, 3, 4, 5, 6)]
    assert 0.5 <= delays[0] <= 1 and 1.5 <= delays[1] <= 3 and 4.5 <= delays[2] <= 9
    assert all(d <= 60 for d in delays) and delays[5] >= 30
    assert next_delay(1, policy, retry_after=120, rng=rng) == 120
    now = utcnow()
    assert exhausted(policy.max_attempts, now, now, policy, 1)
    assert exhausted(1, now - policy.max_age, now, policy, 1)
    assert not exhausted(1, now, now, policy, 1)


def test_breaker_opens_half_opens_and_closes() -> None:
    t = [0.0]
    b = Breaker(window=10, min_calls=4, failure_ratio=0.5, cooldown=10, clock=lambda: t[0])
    for ok in (True, False, False, True):
        assert b.allow()
        b.record(ok)
    assert b.state == "open" and not b.allow()
    t[0] = 10
    assert b.state == "half_open"
    assert b.allow() and not b.allow()  # one probe at a time
    b.record(False)
    assert b.state == "open"
    t[0] = 20
    assert b.allow()
    b.record(True)
    assert b.state == "closed" and b.allow()


def test_render_strict_and_sandboxed() -> None:
    content = {"subject": "Hi {{ user.name }}", "text": "{{ n }} items", "html": "<b>{{ n }}</b>"}
    out = render(spec(Channel.EMAIL), content, {"user": {"name": "Ada"}, "n": "<3>"})
    assert out == RenderedEmail(subject="Hi Ada", html="<b>&lt;3&gt;</b>", text="<3> items")
    with pytest.raises(MissingVariable) as exc:
        render(spec(Channel.EMAIL), content, {"user": {}, "n": 1})
    assert exc.value.field == "email.subject"
    with pytest.raises(RenderFailed):
        render(spec(Channel.SMS), {"text": "{{ ''.__class__.__mro__ }}"}, {})


def test_render_sees_the_sandbox_globals_and_the_context_wins_over_them() -> None:
    content = {"title": "{{ range(3) | list | length }}", "body": "{{ cycler }}", "data": {"k": "{{ n }}"}}
    out = render(spec(Channel.PUSH), content, {"cycler": "mine", "n": 2})
    assert isinstance(out, RenderedPush)
    assert (out.title, out.body, out.data) == ("3", "mine", {"k": "2"})
    # A context that lacks a variable a field needs still fails, and names that field.
    with pytest.raises(MissingVariable) as exc:
        render(spec(Channel.PUSH), content, {"cycler": "mine"})
    assert exc.value.field == "push.data.k"


def test_locale_fallback() -> None:
    channels = {"email": {"subject": "en"}}
    locales = {"fr": {"email": {"subject": "fr"}}, "pt-BR": {"sms": {"text": "br"}}}
    assert pick(channels, locales, "fr-CA", Channel.EMAIL) == {"subject": "fr"}
    assert pick(channels, locales, "pt-BR", Channel.EMAIL) == {"subject": "en"}
    assert pick(channels, locales, None, Channel.SMS) is None


def test_uuid7_randomness_is_not_shared_with_a_forked_child() -> None:
    uuid7()  # the parent holds a block of random bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, uuid7().bytes)
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.waitpid(pid, 0)
    mine = uuid7().bytes
    # The last 8 bytes carry the variant bits and 62 random bits.
    assert child[8:] != mine[8:]


def test_uuid7_is_time_ordered() -> None:
    ids = [uuid7() for _ in range(1000)]
    assert all(i.version == 7 for i in ids[:5])
    assert ids == sorted(ids)  # monotonic, even within one millisecond
