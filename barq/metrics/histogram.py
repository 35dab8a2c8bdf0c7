"""Log-linear latency histogram (HDR-style) with a fixed, preallocated bucket array.

Durations are integer nanoseconds (``time.perf_counter_ns()`` differences). Each
power-of-two octave between 2**9 ns (0.5 µs) and 2**41 ns (~36 min) is split into
32 equal sub-buckets, so a bucket is at most 1/32 of its lower bound wide. Reporting
a bucket's midpoint therefore has a relative error of at most 1/64 ≈ 1.6 %
(the issue asks for ≤ 2 %). Values below 0.512 µs share one underflow bucket, values
of 2**41 ns and more one overflow bucket (reported as the observed maximum).

The bucket index is pure integer arithmetic (``int.bit_length``, a shift and a
mask): no floats, no allocation. :func:`bucket_index` is the reference version; the
worker recorder inlines the same expression on its hot path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = [
    "BUCKET_COUNT",
    "EXPOSITION_BOUNDS_NS",
    "MAX_RELATIVE_ERROR",
    "bucket_bounds",
    "bucket_index",
    "percentile_from_counts",
    "sparse_counts",
    "summarize",
]

SUB_BITS = 5
"""log2 of the number of sub-buckets per octave."""
SUB_BUCKETS = 1 << SUB_BITS  # 32
SUB_MASK = SUB_BUCKETS - 1
MIN_EXP = 9
"""Values with ``bit_length() <= MIN_EXP`` (< 512 ns) go to the underflow bucket 0."""
MAX_EXP = 41
"""Values with ``bit_length() > MAX_EXP`` (>= 2**41 ns, ~36.6 min) go to the last bucket."""
OVERFLOW_INDEX = (MAX_EXP - MIN_EXP) * SUB_BUCKETS + 1
BUCKET_COUNT = OVERFLOW_INDEX + 1
MAX_RELATIVE_ERROR = 1 / (2 * SUB_BUCKETS)
"""Worst-case relative error of a reported percentile inside the covered range."""

_LOWEST_NS = 1 << MIN_EXP
_HIGHEST_NS = 1 << MAX_EXP


def bucket_index(duration_ns: int) -> int:
    """Index of the bucket holding ``duration_ns`` (negative values count as 0)."""
    if duration_ns < _LOWEST_NS:
        return 0
    e = duration_ns.bit_length()
    if e > MAX_EXP:
        return OVERFLOW_INDEX
    return ((e - MIN_EXP - 1) << SUB_BITS) + ((duration_ns >> (e - SUB_BITS - 1)) & SUB_MASK) + 1


def bucket_bounds(index: int) -> tuple[int, int]:
    """``(low, high)`` nanoseconds of bucket ``index``: it holds ``low <= v < high``.

    The overflow bucket's high bound is reported as ``2**63`` (unbounded).
    """
    if index <= 0:
        return 0, _LOWEST_NS
    if index >= OVERFLOW_INDEX:
        return _HIGHEST_NS, 1 << 63
    octave, sub = divmod(index - 1, SUB_BUCKETS)
    shift = octave + MIN_EXP - SUB_BITS
    return (SUB_BUCKETS + sub) << shift, (SUB_BUCKETS + sub + 1) << shift


def _representative(index: int, max_ns: int) -> int:
    """The value reported for a percentile that falls into bucket ``index``."""
    low, high = bucket_bounds(index)
    if index >= OVERFLOW_INDEX:
        return max(max_ns, low)
    mid = (low + high) // 2
    # The true value is below max_ns; never report more than was observed.
    return min(mid, max_ns) if max_ns > 0 else mid


def percentile_from_counts(counts: Sequence[int], q: float, max_ns: int = 0) -> int | None:
    """Nearest-rank ``q``-quantile (``0 < q <= 1``) in ns, or None when empty.

    The exact nearest-rank percentile of the recorded values lies in the returned
    value's bucket, so the result is within :data:`MAX_RELATIVE_ERROR` of it.
    """
    total = sum(counts)
    if total <= 0:
        return None
    # Nearest rank: the smallest value with at least ceil(q * total) values <= it.
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for index, count in enumerate(counts):
        if count:
            seen += count
            if seen >= rank:
                return _representative(index, max_ns)
    return _representative(len(counts) - 1, max_ns)


def sparse_counts(counts: Sequence[int]) -> list[list[int]]:
    """Non-empty buckets as ``[[upper_bound_ns, count], ...]`` in ascending order.

    Upper bounds are exclusive (``v < upper_bound_ns``); the overflow bucket uses
    ``2**63``. This is the histogram form carried in snapshots: it is independent of
    the internal bucket layout and can be merged or diffed by upper bound.
    """
    return [[bucket_bounds(i)[1], c] for i, c in enumerate(counts) if c]


def counts_from_sparse(pairs: Iterable[Sequence[int]]) -> list[int]:
    """Inverse of :func:`sparse_counts` (unknown bounds go to the nearest bucket)."""
    counts = [0] * BUCKET_COUNT
    for upper, count in pairs:
        counts[bucket_index(max(0, int(upper) - 1))] += int(count)
    return counts


QUANTILES = (0.5, 0.9, 0.95, 0.99)


def summarize(counts: Sequence[int], sum_ns: int, max_ns: int) -> dict[str, object]:
    """Plain-data summary of one histogram, as it appears in snapshots.

    Keys: ``count``, ``sum_s``, ``mean_s``, ``max_s``, ``p50_s``, ``p90_s``,
    ``p95_s``, ``p99_s`` (None when empty) and ``buckets`` (see :func:`sparse_counts`).
    """
    count = sum(counts)
    out: dict[str, object] = {
        "count": count,
        "sum_s": sum_ns / 1e9,
        "mean_s": (sum_ns / count / 1e9) if count else None,
        "max_s": (max_ns / 1e9) if count else None,
    }
    for q in QUANTILES:
        value = percentile_from_counts(counts, q, max_ns)
        out[f"p{round(q * 100)}_s"] = None if value is None else value / 1e9
    out["buckets"] = sparse_counts(counts)
    return out


def _nearest_upper_bound(target_ns: int) -> int:
    """The bucket upper bound closest to ``target_ns``."""
    index = bucket_index(target_ns)
    low, high = bucket_bounds(index)
    return low if (target_ns - low) < (high - target_ns) and low > 0 else high


_NICE_BOUNDS_S = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

EXPOSITION_BOUNDS_NS: tuple[int, ...] = tuple(
    sorted({_nearest_upper_bound(round(s * 1e9)) for s in _NICE_BOUNDS_S})
)
"""Prometheus ``le`` bounds: the bucket boundaries nearest to 0.1 ms, 0.25 ms, … 60 s.

They are real boundaries of the fine histogram (e.g. 0.000999424 s for "1 ms"), so
the cumulative counts exported for them are exact, not interpolated.
"""


def cumulative_at(pairs: Iterable[Sequence[int]], bounds_ns: Sequence[int]) -> list[int]:
    """Cumulative counts of values ``< bound`` for each bound, from sparse pairs."""
    ordered = sorted((int(u), int(c)) for u, c in pairs)
    out: list[int] = []
    i = 0
    running = 0
    for bound in bounds_ns:
        while i < len(ordered) and ordered[i][0] <= bound:
            running += ordered[i][1]
            i += 1
        out.append(running)
    return out
