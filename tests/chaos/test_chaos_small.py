"""The chaos run, small: 1,500 notifications through faults, one worker SIGKILL, on both backends.

The full run is `python -m bench.chaos` (100,000 notifications, a kill every 10 s). This one
keeps every fault of it at a size the suite can afford: transient errors, dropped
connections, 429 bursts, one kill, and on PostgreSQL + Redis a restart of each engine; and
the provider callbacks (Twilio, Vonage, SendGrid, Mailchimp) delayed, duplicated, reordered
and dropped, with failing numbers and addresses, audited against the outcomes, the timeline
and the suppressions (bench/chaos_callbacks.py).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from bench.chaos import TRANSIENT, Config, run_chaos
from bench.cluster import missing_engines

IN_CI = os.environ.get("CI") == "true"
N = 1500
SMALL = Config(
    n=N,
    max_kills=1,
    kill_every=3.0,
    batch=50,
    concurrency=4,
    api_workers=1,
    stall=45.0,
    drain_limit=120.0,
    window=60.0,
    # FCM's QUOTA_EXCEEDED asks for a pause of at least a minute (and Herald obeys), which
    # would outlast this test's budget on its own; the full run bursts every simulator.
    burst_sims=tuple(sorted(s for s in TRANSIENT if s != "fcm")),
)


def _require_engines() -> None:
    """Private PostgreSQL and Redis need their server binaries: fail under CI, skip elsewhere."""
    missing = missing_engines()
    if missing:
        message = f"the chaos run on PostgreSQL + Redis needs {', '.join(missing)}"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing binary is a failure)", pytrace=False)
        pytest.skip(message)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_chaos_small(engine: str, tmp_path: Path) -> None:
    if engine == "postgres":
        _require_engines()
    cfg = dataclasses.replace(SMALL, backend=engine, workdir=tmp_path / "chaos")
    f = await run_chaos(cfg)
    detail = f"{f.line()}\n" + "\n".join(f.problems()) + f"\nlogs: {tmp_path / 'chaos'}"
    assert f.lost == 0, detail
    assert f.accepted == N, detail
    assert f.accepted == f.once + f.dup_raw + f.refused + f.failed + f.skipped + f.dead, detail
    assert f.kills == 1, detail
    # The callbacks: every provider called back, the faults happened, and what Herald made
    # of them is what they said (the audit's problems are in f.problems(), checked below).
    cb = f.callbacks
    providers = cb["providers"]
    assert set(providers) == {"twilio", "vonage", "sendgrid", "mailchimp"}, detail
    assert all(p["sent"] > 0 and p["recorded"] > 0 for p in providers.values()), detail
    assert sum(p["duplicated"] for p in providers.values()) > 0, detail
    assert sum(p["dropped"] for p in providers.values()) > 0, detail
    assert sum(p["given_up"] for p in providers.values()) == 0, detail
    assert cb["outcome_checked"] > 0 and cb["outcome_wrong"] == 0, detail
    assert cb["timeline_missing"] == 0 and cb["timeline_extra"] == 0, detail
    assert cb["suppressions_expected"] > 0 and cb["suppressions_missing"] == cb["suppressions_extra"] == 0, detail
    assert f.refused > 0, detail  # failing destinations were reported so, and are no phantoms
    if engine == "postgres":
        assert f.restarts == ["redis", "postgres"], detail
    # The rollups, folded after the kills: one accepted per delivery, one sent per delivered.
    assert f.rollups["accepted"] == f.rollups["deliveries"] == N and f.rollups["staged"] == 0, detail
    assert f.rollups["sent"] == f.rollups["delivered"] > 0, detail
    assert not f.problems(), detail
