'use strict'
// Small statistics helpers shared by the scenarios and the orchestrator.

// Percentile of an already sorted numeric array (nearest-rank, q in [0, 1]).
function percentileSorted (sorted, q) {
  const n = sorted.length
  if (n === 0) return null
  const rank = Math.ceil(q * n) - 1
  return sorted[Math.min(n - 1, Math.max(0, rank))]
}

// Sorts a copy of the first n entries of a Float64Array (or array) and returns p50/p99/p999.
function latencySummary (samples, n) {
  if (n === undefined) n = samples.length
  const sorted = Float64Array.from(samples.subarray ? samples.subarray(0, n) : samples.slice(0, n))
  sorted.sort()
  return {
    n,
    p50: percentileSorted(sorted, 0.50),
    p99: percentileSorted(sorted, 0.99),
    p999: percentileSorted(sorted, 0.999),
    max: n ? sorted[n - 1] : null
  }
}

// Median of the finite numbers in a list (null when there are none).
function median (values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

function max (values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x))
  return v.length ? Math.max(...v) : null
}

// Seeded PRNG (mulberry32) so generated inputs are the same on every run.
function prng (seed) {
  let a = seed >>> 0
  return function () {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

module.exports = { percentileSorted, latencySummary, median, max, prng }
