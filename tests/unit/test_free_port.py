"""bench.procs.free_port: ports a server can bind later, out of the way of outgoing connections."""

from __future__ import annotations

import socket

import pytest
from bench.procs import _ephemeral_range, free_port


def test_free_port_is_outside_the_ephemeral_range_and_bindable() -> None:
    low, high = _ephemeral_range()
    ports = {free_port() for _ in range(50)}
    assert all(not low <= p <= high for p in ports), sorted(ports)
    assert len(ports) > 40  # drawn at random, not one fixed port every caller would share
    for port in list(ports)[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free when handed out


def test_free_port_skips_a_port_already_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        bound = taken.getsockname()[1]
        other = free_port()
        draws = iter([bound, bound, other])
        monkeypatch.setattr("bench.procs.random.randint", lambda lo, hi: next(draws))
        assert free_port() == other
    finally:
        taken.close()
