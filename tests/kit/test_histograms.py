"""kit.histograms writes prometheus_client's private state: a histogram fed in bulk must read
exactly as one fed by observe(), or the redirect's latency metrics are wrong. Fails when
prometheus_client changes those internals (pyproject caps it at the tested minor)."""

from __future__ import annotations

from bisect import bisect_left

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from skinstack.kit import histograms
from skinstack.middleware import LATENCY

BUCKETS = histograms.bounds(LATENCY.labels("GET", "/l/{slug}"))[:-1]  # the redirect's (no +Inf)


@given(st.lists(st.one_of(st.sampled_from(BUCKETS),
                          st.floats(min_value=0, max_value=10, allow_nan=False)), max_size=50))
def test_bulk_adds_read_as_observations(latencies: list[float]) -> None:
    registries = CollectorRegistry(), CollectorRegistry()
    observed, added = (Histogram("latency", "", ["route"], buckets=BUCKETS,
                                 registry=registry).labels("/l/{slug}")
                       for registry in registries)
    bounds = histograms.bounds(added)
    assert bounds == (*BUCKETS, float("inf"))
    counts = [0] * len(bounds)
    for latency in latencies:
        observed.observe(latency)
        counts[bisect_left(bounds, latency)] += 1  # as RedirectEndpoint tallies them
    histograms.add(added, counts, sum(latencies))
    assert _samples(registries[1]) == _samples(registries[0])
    assert _samples(registries[1])["latency_count", ""] == len(latencies)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    """Bucket counts, count and sum as a scrape reads them (not the creation time)."""
    return {(sample.name, sample.labels.get("le", "")): sample.value
            for metric in registry.collect() for sample in metric.samples
            if not sample.name.endswith("_created")}
