"""Latency histogram: bucket layout, precision, percentiles, exposition bounds."""

from __future__ import annotations

import math
import random

import pytest

from barq.metrics.histogram import (
    BUCKET_COUNT,
    EXPOSITION_BOUNDS_NS,
    MAX_RELATIVE_ERROR,
    bucket_bounds,
    bucket_index,
    counts_from_sparse,
    cumulative_at,
    percentile_from_counts,
    sparse_counts,
    summarize,
)


def exact_percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered) - 1e-9)) - 1]


def test_precision_is_within_two_percent_from_microseconds_to_minutes() -> None:
    assert MAX_RELATIVE_ERROR <= 0.02
    rng = random.Random(1)
    for _ in range(20000):
        value = int(10 ** rng.uniform(3, 11.5))  # 1 µs .. ~5 min
        low, high = bucket_bounds(bucket_index(value))
        assert low <= value < high
        assert abs((low + high) / 2 - value) / value <= MAX_RELATIVE_ERROR


def test_buckets_are_contiguous_and_ordered() -> None:
    previous_high = 0
    for index in range(BUCKET_COUNT - 1):
        low, high = bucket_bounds(index)
        assert low == previous_high and high > low
        assert bucket_index(low) == index and bucket_index(high - 1) == index
        previous_high = high


def test_out_of_range_values_are_clamped() -> None:
    assert bucket_index(-5) == 0
    assert bucket_index(0) == 0
    assert bucket_index(10**15) == BUCKET_COUNT - 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_exact_within_precision(seed: int) -> None:
    rng = random.Random(seed)
    values = [int(rng.lognormvariate(13, 1.5)) + 2000 for _ in range(5000)]
    counts = [0] * BUCKET_COUNT
    for v in values:
        counts[bucket_index(v)] += 1
    for q in (0.5, 0.9, 0.95, 0.99, 1.0):
        exact = exact_percentile(values, q)
        got = percentile_from_counts(counts, q, max(values))
        assert got is not None
        assert abs(got - exact) / exact <= MAX_RELATIVE_ERROR, (q, got, exact)
    assert percentile_from_counts(counts, 1.0, max(values)) <= max(values)


def test_empty_histogram_has_no_percentiles() -> None:
    assert percentile_from_counts([0] * BUCKET_COUNT, 0.5) is None
    summary = summarize([0] * BUCKET_COUNT, 0, 0)
    assert summary["count"] == 0 and summary["p99_s"] is None and summary["buckets"] == []


def test_sparse_roundtrip_and_cumulative_counts() -> None:
    counts = [0] * BUCKET_COUNT
    for v in (5_000, 5_000, 2_000_000, 3 * 10**9):
        counts[bucket_index(v)] += 1
    pairs = sparse_counts(counts)
    assert counts_from_sparse(pairs) == counts
    assert sum(c for _, c in pairs) == 4
    cumulative = cumulative_at(pairs, EXPOSITION_BOUNDS_NS)
    assert cumulative == sorted(cumulative)
    expected = [
        sum(1 for v in (5_000, 5_000, 2_000_000, 3 * 10**9) if v < b) for b in EXPOSITION_BOUNDS_NS
    ]
    assert cumulative == expected


def test_exposition_bounds_are_real_bucket_boundaries_near_nice_values() -> None:
    assert list(EXPOSITION_BOUNDS_NS) == sorted(set(EXPOSITION_BOUNDS_NS))
    for bound in EXPOSITION_BOUNDS_NS:
        assert bucket_bounds(bucket_index(bound))[0] == bound
    assert any(abs(b - 1_000_000) / 1_000_000 < 0.02 for b in EXPOSITION_BOUNDS_NS)
    assert any(abs(b - 60 * 10**9) / (60 * 10**9) < 0.02 for b in EXPOSITION_BOUNDS_NS)
