'use strict'
// A seeded PRNG (mulberry32) for the randomized tests: a failure names a seed that reproduces it.

/** @returns {() => number} uniform numbers in [0, 1), the same sequence for the same seed */
function rng (seed) {
  let a = seed >>> 0
  return function () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

module.exports = { rng }
