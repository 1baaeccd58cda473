"""Prometheus metrics, one registry per process: the API serves them at /metrics, the other
processes on a port of their own (`serve`), and Prometheus scrapes every process."""

from __future__ import annotations

import functools
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)

ATTEMPTS = Counter("herald_attempts", "Provider calls by provider and outcome", ["provider", "outcome"])
SETTLED = Counter("herald_deliveries_settled", "Deliveries reaching a state, by channel", ["channel", "state"])
UNKNOWN_RESENDS = Counter(
    "herald_unknown_outcome_resends",
    "Resends after an unknown outcome; with collapsing=false each may be a visible duplicate",
    ["provider", "collapsing"],
)
LOOKUPS = Counter(
    "herald_provider_lookups",
    "Lookups before a resend after an unknown outcome: found (settled without a resend), "
    "absent (resent), failed (resent, may be a duplicate)",
    ["provider", "result"],
)
SEND_SECONDS = Histogram(
    "herald_provider_call_seconds",
    "Provider call latency",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FOLD_SECONDS = Histogram(
    "herald_analytics_fold_seconds",
    "A folder's transaction adding staged increments to the rollups, from its connection in hand to "
    "its commit; on SQLite it holds the write lock meanwhile, and its sum per second is that share of the time",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
FOLDED_INCREMENTS = Counter("herald_analytics_folded_increments", "Staged increments a folder added to the rollups")
ACCEPT_TO_SEND_SECONDS = Histogram(
    "herald_accept_to_send_seconds",
    "From acceptance (or the scheduled time) to a delivery's first provider call, by channel; "
    "includes time deferred by a rate limit",
    ["channel"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

# What a crash at this moment would leave to the lease recovery: deliveries a worker is
# sending, or has sent and not yet committed the outcome of.
UNRECORDED = Gauge(
    "herald_deliveries_unrecorded",
    "Deliveries between the start of their send and the commit of its outcome, by channel",
    ["channel"],
)
UNRECORDED_SECONDS = Histogram(
    "herald_delivery_unrecorded_seconds",
    "From the start of a delivery's send to the commit of its outcome, by channel; the mean number "
    "unrecorded at any moment is this histogram's sum per second (Little's law)",
    ["channel"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def serve(port: int, host: str) -> None:
    """This process's metrics over HTTP (prometheus_client's server, in a thread of its own)."""
    start_http_server(port, addr=host)


# The queues, deployment-wide (every process sampling them sees the same figures): set from a
# snapshot the API refreshes in the background (`monitoring.sampler`), never counted per scrape.
_QUEUE = ["channel", "backend"]
QUEUE_READY = Gauge("herald_queue_ready", "Deliveries queued and due, not yet leased", _QUEUE)
QUEUE_IN_FLIGHT = Gauge("herald_queue_in_flight", "Deliveries leased to a worker (sending)", _QUEUE)
QUEUE_SCHEDULED = Gauge("herald_queue_scheduled", "Deliveries waiting for their send_at", _QUEUE)
QUEUE_RETRYING = Gauge("herald_queue_retrying", "Deliveries queued for later: a retry's backoff or a deferral", _QUEUE)
QUEUE_DEAD = Gauge("herald_queue_dead", "Dead letters not replayed", _QUEUE)
QUEUE_OLDEST_READY_AGE = Gauge(
    "herald_queue_oldest_ready_age_seconds", "How long the oldest ready delivery has been due", _QUEUE
)
QUEUE_CONSUMER_LAG = Gauge(
    "herald_queue_consumer_lag",
    "Entries no worker has received yet (Redis: the consumer group's lag; embedded: the ready rows); "
    "NaN when the broker cannot tell",
    _QUEUE,
)
QUEUE_SAMPLED = Gauge("herald_queue_sampled_timestamp_seconds", "When the queue gauges were last sampled")


@functools.cache
def child(metric: M, *labels: str) -> M:
    """`metric.labels(*labels)`, looked up once per process: `labels()` takes a lock and
    builds its key on every call, and the send path calls it for every delivery. The label
    values are small fixed sets (provider kinds, outcomes, channels, states)."""
    return metric.labels(*labels)
