"""Observations added to a Prometheus histogram in bulk, for a hot path that tallies them in
plain numbers and publishes them before a scrape (redirect.endpoint).

prometheus_client has no public call for this, so these read and write its private state: a
child's `_upper_bounds` (ascending, +Inf last), its `_buckets` (one counter per bound, counting
the observations that fell in that bucket alone, not cumulatively) and its `_sum`. pyproject caps
prometheus-client at the tested minor; tests/kit/test_histograms.py checks that `add()` leaves a
histogram exactly as `observe()` would have, and fails when those internals change.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Histogram


def bounds(child: Histogram) -> tuple[float, ...]:
    """The child's bucket bounds, ascending, +Inf last: `observe(value)` counts bucket
    `bisect_left(bounds, value)`, the first bound >= value."""
    return tuple(child._upper_bounds)


def add(child: Histogram, counts: Sequence[int], total: float) -> None:
    """Adds `counts[i]` observations to bucket i and `total` to the sum, as that many
    `observe()` calls would (the count is the buckets' sum, so it follows)."""
    for bucket, count in enumerate(counts):
        if count:
            child._buckets[bucket].inc(count)
    if total:
        child._sum.inc(total)
