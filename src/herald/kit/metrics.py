"""Prometheus metrics, one registry per process (scrape each process's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter("herald_attempts", "Provider calls by provider and outcome", ["provider", "outcome"])
SETTLED = Counter("herald_deliveries_settled", "Deliveries reaching a state, by channel", ["channel", "state"])
UNKNOWN_RESENDS = Counter(
    "herald_unknown_outcome_resends",
    "Resends after an unknown outcome; with collapsing=false each may be a visible duplicate",
    ["provider", "collapsing"],
)
SEND_SECONDS = Histogram(
    "herald_provider_call_seconds",
    "Provider call latency",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
