"""The SSE bench's arithmetic and parsing: a wrong join or a misread stream would misstate every figure."""

from __future__ import annotations

from typing import Any

from bench.sse import cores, latencies, merge_status, per_connection, split_means, targets, unattributed
from bench.sse_listen import SseEvent, SseParser


def test_events_cut_anywhere_come_out_whole_and_pings_are_counted() -> None:
    raw = (
        b"retry: 2000\n\n"
        b'event: counts\ndata: {"unread": 0}\n\n'
        b": ping\n\n"
        b'id: 0190-ab\nevent: item\ndata: {"id": "0190-ab"}\n\n'
        b"event: note\ndata: one\ndata: two\n\n"
        b"event: item\ndata: {"  # the next event, not finished yet
    )
    parser, events = SseParser(), []
    for i in range(0, len(raw), 7):
        events += parser.feed(raw[i : i + 7])
    assert events == [
        SseEvent("counts", b'{"unread": 0}'),
        SseEvent("item", b'{"id": "0190-ab"}', "0190-ab"),
        SseEvent("note", b"one\ntwo"),
    ]
    assert parser.comments == 1
    assert parser.feed(b"}\n\n") == [SseEvent("item", b"{}")]


def test_latency_counts_the_window_and_every_item_that_never_arrived() -> None:
    accepted = {"a": (100.0, "in_app"), "b": (101.0, "in_app"), "early": (90.0, "in_app"), "lost": (95.0, "in_app")}
    arrivals = {"a": (100.05, "u1"), "b": (101.2, "u2"), "early": (90.01, "u3"), "stray": (100.0, "u4")}
    got = latencies(accepted, arrivals, start=99.0, end=110.0)
    assert got["missing"] == 1  # `lost`, accepted before the window, still counts
    assert got["latency_ms"]["n"] == 2  # `early` arrived, but outside the window
    assert round(got["latency_ms"]["p50"]) == 50 and round(got["latency_ms"]["max"]) == 200
    assert round(got["mean_ms"]) == 125


def test_listener_statuses_add_up_and_the_last_stream_decides_when_all_were_open() -> None:
    a = {"counted": 3, "items": 5, "failures": {"http_401": 1}, "connect_started": 10.0, "all_counted_at": 12.0}
    b = {"counted": 4, "items": 1, "failures": {"http_401": 2, "OSError": 1}, "connect_started": 9.0}
    b["all_counted_at"] = 15.0
    merged = merge_status([a, b])
    assert (merged["counted"], merged["items"], merged["failures"]) == (7, 6, {"http_401": 3, "OSError": 1})
    assert (merged["connect_started"], merged["all_counted_at"]) == (9.0, 15.0)
    assert merge_status([a, {**b, "all_counted_at": None}])["all_counted_at"] is None
    assert merge_status([{**b, "all_counted_at": None}, a])["all_counted_at"] is None


def test_per_stream_memory_cpu_and_the_parts_of_the_latency() -> None:
    assert per_connection(100 * 2**20, 300 * 2**20, 5000) == 200 * 2**20 / 5000
    assert per_connection(1, 2, 0) is None
    used = cores({"api": 1.0, "machine": 2.0}, {"api": 4.0, "machine": 12.0, "listener": 1.0}, 10.0)
    assert used == {"api": 0.3, "machine": 1.0, "listener": 0.1}
    assert round(unattributed(used) or 0, 9) == 0.6
    parts = split_means({"call": (1.0, 10.0)}, {"call": (1.5, 20.0), "accept_to_call": (0.0, 0.0)})
    assert parts == {"call": 50.0, "accept_to_call": None}


def _doc(counted: int, open_now: int, dropped: int, p99: float, missing: int, rate: float) -> dict[str, Any]:
    return {
        "options": {"rate": str(rate)},
        "connect": {"status": {"counted": counted}, "bytes_per_connection": 40 * 1024},
        "load": {
            "status_after": {"open_now": open_now, "dropped": dropped},
            "latency_ms": {"p99": p99},
            "missing": missing,
        },
    }


def test_targets_are_met_only_when_every_condition_holds() -> None:
    assert [t[2] for t in targets(_doc(5000, 5000, 0, 250.0, 0, 500.0))] == ["MET", "MET", "reported"]
    assert targets(_doc(5000, 5000, 0, 250.0, 0, 500.0))[2][1] == "40.0 KiB"
    assert targets(_doc(5000, 4999, 1, 10.0, 0, 500.0))[0][1:] == ("4,999", "MISSED")  # one dropped meanwhile
    assert targets(_doc(5000, 5000, 0, 251.0, 0, 500.0))[1][2] == "MISSED"
    assert targets(_doc(5000, 5000, 0, 10.0, 1, 500.0))[1][2] == "MISSED"  # an item never arrived
    assert targets(_doc(5000, 5000, 0, 10.0, 0, 400.0))[1][2] == "MISSED"  # not at the target's rate
    assert [t[2] for t in targets({"options": {"rate": "500"}})] == ["not run", "not run", "reported"]
