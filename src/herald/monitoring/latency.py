"""Accept-to-sent latency as bucket counts: additive across processes, cheap to keep per minute.

Quantiles come from the merged buckets, interpolated within the bucket that holds them, as
Prometheus's `histogram_quantile` does: exact enough for a chart, and a minute of any number
of deliveries costs one short list per process.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

# Upper bounds in seconds; a last bucket (+Inf) holds everything slower.
EDGES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
SIZE = len(EDGES) + 1


def bucket(seconds: float) -> int:
    """The index of the bucket a latency falls into."""
    return bisect_left(EDGES, seconds)


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    """Bucket-wise sums; a stored list of another length (edges changed) is ignored."""
    total = [0] * SIZE
    for counts in histograms:
        if len(counts) == SIZE:
            total = [a + b for a, b in zip(total, counts, strict=True)]
    return total


def quantile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile in seconds, None without observations. Past the last edge, the last edge."""
    n = sum(counts)
    if n == 0:
        return None
    rank = q * n
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            if i == len(EDGES):
                return EDGES[-1]
            low = EDGES[i - 1] if i else 0.0
            return low + (EDGES[i] - low) * (rank - seen) / c
        seen += c
    return EDGES[-1]
