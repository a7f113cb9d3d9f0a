"""What "the same results" means, stated once: the rule every test uses that compares outputs a
model made (pinned runs, two code paths, two chunkings, a resumed or distributed run).

TensorFlow's oneDNN picks its kernels by instruction set (SSE4.1, AVX2, AVX-512), vendor, thread
count and batch shape, and float32 sums then come out in another order. Between two x86-64
machines a probability moves by about 1e-6, everything made from it by as much again, relative;
bits do not travel, values do. So:

- every column that is not a float (identifiers, labels, counts, decisions, verdicts) is equal
  exactly;
- a float column is equal within |found - expected| <= atol + rtol * |expected|, the tolerance
  chosen by what the column measures (`tolerance_for`, first rule that matches);
- an attribution map is equal within MAP_RTOL of its own largest magnitude.

Measured with oneDNN held to SSE4.1 against the AVX-512 kernels of the machine that recorded the pins
(default study, study table, CIFAKE run): p_ai 1.1e-6, margins 9.8e-6, statistics of p_ai 2e-6
relative, statistics of attribution maps 2e-3 relative, maps 1.1e-4 of their scale. Each tolerance
below is ten times or more what was measured. docs/guarantees.md quotes this rule.

A non-float value that differs while every float of its row agrees is reported as a knife edge:
a decision that sits where a rounding difference flips it, named by its row, never a bare digest.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def close(self, found: np.ndarray, expected: np.ndarray) -> np.ndarray:
        return np.isclose(found, expected, rtol=self.rtol, atol=self.atol, equal_nan=True)


PROBABILITY = Tolerance(rtol=1e-4, atol=1e-5)  # p_ai, p_human, their shifts, rates and means, percentages
LOG_ODDS = Tolerance(rtol=1e-4, atol=1e-4)  # margins, logits: log(p) magnifies p's rounding near 0 and 1
FROM_MAPS = Tolerance(rtol=1e-2, atol=1e-4)  # statistics of attribution maps (gradients, ratios of map changes)
MAP_RTOL = 1e-3  # an attribution map, relative to its own largest magnitude

# (table file pattern, column pattern, tolerance): the first rule that matches a float column wins.
RULES = (("explanation*", r".*", FROM_MAPS), ("*", r".*(margin|logit|log_odds).*", LOG_ODDS), ("*", r".*", PROBABILITY))


def tolerance_for(table: str, column: str) -> Tolerance:
    name = table.rsplit("/", 1)[-1]
    for pattern, columns, tolerance in RULES:
        if fnmatch.fnmatch(name, pattern) and re.fullmatch(columns, column):
            return tolerance
    raise AssertionError("the last rule matches every column")


def _same_exactly(found: pd.Series, expected: pd.Series) -> np.ndarray:
    both_missing = found.isna().to_numpy() & expected.isna().to_numpy()
    return both_missing | (found.to_numpy(dtype=object) == expected.to_numpy(dtype=object))


def frame_differences(found: pd.DataFrame, expected: pd.DataFrame, table: str = "table", most: int = 8) -> list[str]:
    """One line per way `found` is not the same result as `expected` (empty when it is): columns,
    dtypes and row count first; then each differing row, named by its exact columns, with every
    value that differs and, for a knife edge, why."""
    if list(found.columns) != list(expected.columns):
        return [f"{table}: columns {list(found.columns)} where {list(expected.columns)} were expected"]
    kinds = [
        f"{c} {found[c].dtype} (expected {expected[c].dtype})" for c in found if found[c].dtype != expected[c].dtype
    ]
    if kinds:
        return [f"{table}: column types differ: " + ", ".join(kinds)]
    if len(found) != len(expected):
        return [f"{table}: {len(found)} rows where {len(expected)} were expected"]
    found, expected = found.reset_index(drop=True), expected.reset_index(drop=True)
    floats = [c for c in found if pd.api.types.is_float_dtype(found[c])]
    exact = [c for c in found if c not in floats]
    bad = {}
    for c in found:
        if c in floats:
            ok = tolerance_for(table, c).close(found[c].to_numpy(float), expected[c].to_numpy(float))
        else:
            ok = _same_exactly(found[c], expected[c])
        bad[c] = ~ok
    rows = np.flatnonzero(np.any(np.stack([bad[c] for c in found]), axis=0)) if len(found.columns) else []
    lines = [_row_line(table, i, found, expected, bad, floats, exact) for i in rows[:most]]
    if len(rows) > most:
        lines.append(f"{table}: and {len(rows) - most} more rows")
    return lines


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _row_line(table, i, found, expected, bad, floats, exact) -> str:
    ids = ", ".join(f"{c}={_plain(expected.at[i, c])!r}" for c in exact if not bad[c][i])
    values = []
    for c in found:
        if bad[c][i]:
            e, f = _plain(expected.at[i, c]), _plain(found.at[i, c])
            tol = f" (off by {abs(f - e):.3g}, allowed {tolerance_for(table, c)})" if c in floats else ""
            values.append(f"{c}: expected {e!r}, found {f!r}{tol}")
    line = f"{table} row {i} ({ids[:200]}): " + "; ".join(values)
    if not any(bad[c][i] for c in floats) and floats:
        near = ", ".join(f"{c}={found.at[i, c]:.9g}" for c in floats)
        line += f" -- a knife edge: every float of the row is within tolerance ({near[:300]}), so a float32 rounding"
        line += " difference moved this decision, not a change of code"
    return line


def assert_frames_match(found: pd.DataFrame, expected: pd.DataFrame, table: str = "table") -> None:
    lines = frame_differences(found, expected, table)
    assert not lines, "not the same results:\n" + "\n".join(lines)


def map_differences(found: np.ndarray, expected: np.ndarray, name: str = "maps") -> list[str]:
    """Attribution maps (one per leading index) equal within MAP_RTOL of each map's largest magnitude."""
    found, expected = np.asarray(found, np.float64), np.asarray(expected, np.float64)
    if found.shape != expected.shape:
        return [f"{name}: shape {found.shape} where {expected.shape} was expected"]
    if not found.size:
        return []
    flat_f, flat_e = found.reshape(len(found), -1), expected.reshape(len(expected), -1)
    if not np.array_equal(np.isnan(flat_f), np.isnan(flat_e)):
        return [f"{name}: NaN where the expected maps have none, or the reverse"]
    scale = np.nanmax(np.abs(flat_e), axis=1, initial=0.0)
    off = np.nanmax(np.abs(flat_f - flat_e), axis=1, initial=0.0)
    return [
        f"{name}[{k}]: off by {off[k]:.3g}, more than {MAP_RTOL:g} of its scale {scale[k]:.3g}"
        for k in np.flatnonzero(off > MAP_RTOL * scale)
    ]


def assert_maps_match(found: np.ndarray, expected: np.ndarray, name: str = "maps") -> None:
    lines = map_differences(found, expected, name)
    assert not lines, "not the same maps:\n" + "\n".join(lines)
