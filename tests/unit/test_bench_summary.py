"""The bench's arithmetic: a wrong join or a double-counted process would misstate every figure."""

from __future__ import annotations

from bench.cluster import Receipt
from bench.drive import Load
from bench.measure import (
    CHANNEL_PART,
    Meter,
    Window,
    mean_folding,
    mean_unrecorded,
    mean_waits_ms,
    parse_waits,
    summarize,
)
from prometheus_client import CollectorRegistry, Histogram, generate_latest


def _phase() -> tuple[Load, list[Receipt], Window]:
    load = Load(offered_rate=None)
    load.accepted = {
        "p1": (100.0, "push"),
        "p2": (100.0, "push"),
        "e1": (101.0, "email"),
        "s1": (102.0, "sms"),  # never arrives
        "early": (90.0, "push"),  # accepted before the window: not in latency
    }
    rows: list[Receipt] = [  # (seq, key, provider, received, arrived before the simulator's latency)
        (1, "p1", "apns", 100.02, 100.004),
        (2, "p2", "fcm", 100.05, 100.03),
        (3, "p2", "fcm", 100.5, 100.48),  # a second copy
        (4, "e1", "smtp", 101.1, 101.07),
        (5, "early", "apns", 100.3, 100.28),
        (6, None, "twilio", 100.4, 100.38),  # no idempotency key reached the provider
    ]
    window = Window(
        start=100.0,
        end=110.0,
        cpu0={"api": 1.0, "worker": 2.0, f"{CHANNEL_PART}push": 1.0, f"{CHANNEL_PART}email": 1.0, "machine": 0.0},
        cpu1={"api": 2.0, "worker": 5.0, f"{CHANNEL_PART}push": 2.5, f"{CHANNEL_PART}email": 2.5, "machine": 8.0},
    )
    return load, rows, window


def test_summary_joins_keys_counts_copies_and_splits_worker_cpu_by_channel() -> None:
    load, rows, window = _phase()
    s = summarize(load, rows, window, Meter({}), latency_ms=20.0, herald_kinds=("api", "worker"))
    assert s["received_in_window"] == 6
    assert s["deliveries_per_s"] == 0.6
    assert s["missing_after_drain"] == 1
    assert s["duplicates"] == 1
    assert s["unkeyed"] == 1
    # The first copy counts: p1 20 ms, p2 50 ms, e1 100 ms.
    assert s["a2p_ms"]["n"] == 3
    assert round(s["a2p_ms"]["p50"]) == 50
    # Until the simulator had it (its first copy): p1 4 ms, p2 30 ms, e1 70 ms; the older
    # measure, received less the nominal latency, would say 80 ms for e1.
    assert [round(s["a2p_arrival_ms"][q]) for q in ("p50", "max")] == [30, 70]
    assert round(s["a2p_received_less_latency_ms"]["max"]) == 80
    # Channel parts are not processes of their own: they leave the totals alone.
    assert set(s["cpu_s"]) == {"api", "worker"}
    assert s["system_cpu_ms_per_delivery"] == (1.0 + 3.0) / 6 * 1000
    # push: 1.5 s over the 4 push messages the providers received in the window (p2 twice, early).
    assert s["worker_cpu_ms_per_message"]["push"] == 1.5 / 4 * 1000
    assert s["worker_cpu_ms_per_message"]["email"] == 1.5 / 1 * 1000
    assert s["unattributed_cores"] == (8.0 - 4.0) / 10.0


def test_herald_share_of_the_latency_is_the_windows_delta_of_its_histograms() -> None:
    registry = CollectorRegistry()
    waits = Histogram("herald_accept_to_send_seconds", "", ["channel"], registry=registry)
    other = Histogram("herald_provider_call_seconds", "", ["provider"], registry=registry)
    waits.labels("push").observe(1.0)  # before the window
    before = parse_waits(generate_latest(registry).decode())
    for seconds in (0.02, 0.04):
        waits.labels("push").observe(seconds)
    waits.labels("sms").observe(0.1)
    other.labels("apns").observe(5.0)  # another histogram: not a wait
    after = parse_waits(generate_latest(registry).decode())
    assert after == {"push": (1.06, 3.0), "sms": (0.1, 1.0)}
    means = mean_waits_ms(before, after)
    assert round(means["push"] or 0, 6) == 30.0  # the 1 s from before the window is not in it
    assert round(means["sms"] or 0, 6) == 100.0
    assert round(means["all"] or 0, 6) == round((0.02 + 0.04 + 0.1) / 3 * 1000, 6)
    assert mean_waits_ms(after, after) == {"push": None, "sms": None, "all": None}


def test_unrecorded_at_any_moment_is_the_windows_time_unrecorded_per_second() -> None:
    registry = CollectorRegistry()
    unrecorded = Histogram("herald_delivery_unrecorded_seconds", "", ["channel"], registry=registry)
    unrecorded.labels("push").observe(9.0)  # before the window
    before = parse_waits(generate_latest(registry).decode(), metric="herald_delivery_unrecorded_seconds")
    for _ in range(100):  # 100 sends over a 2 s window, 30 ms each between send and commit
        unrecorded.labels("push").observe(0.03)
    unrecorded.labels("email").observe(0.5)
    after = parse_waits(generate_latest(registry).decode(), metric="herald_delivery_unrecorded_seconds")
    got = mean_unrecorded(before, after, span=2.0)
    assert round(got["mean_in_flight"] or 0, 6) == round((100 * 0.03 + 0.5) / 2.0, 6)  # 1.75 at any moment
    assert round(got["mean_ms"] or 0, 6) == round((100 * 0.03 + 0.5) / 101 * 1000, 6)
    assert mean_unrecorded({}, {}, span=2.0) == {"mean_in_flight": None, "mean_ms": None}


def test_folding_is_the_folders_time_per_second_of_the_window() -> None:
    registry = CollectorRegistry()
    folds = Histogram("herald_analytics_fold_seconds", "", registry=registry)  # no labels
    folds.observe(4.0)  # before the window
    before = parse_waits(generate_latest(registry).decode(), metric="herald_analytics_fold_seconds")
    for seconds in (0.002, 0.004, 0.006):  # three folds over a 3 s window
        folds.observe(seconds)
    after = parse_waits(generate_latest(registry).decode(), metric="herald_analytics_fold_seconds")
    assert after == {"": (4.012, 4.0)}
    got = mean_folding(before, after, span=3.0)
    assert round(got["ms_per_s"] or 0, 6) == 4.0  # 12 ms of folding in 3 s
    assert round(got["mean_ms"] or 0, 6) == 4.0
    assert mean_folding({}, {}, span=3.0) == {"ms_per_s": None, "mean_ms": None}
