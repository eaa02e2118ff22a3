'use strict'
// maxInflight's queue mode (`maxInflight: { limit, queue }`): at most `limit` queries are sent
// and unanswered; the others are registered (tid, timeout running) but wait here, first in first
// out, until a sent query leaves its slot. The state lives in the instance's private state
// (index.js): `window`, `waitingMax`, `waiting` (slot, gen pairs from `waitingHead`), `sent`,
// `sentSlots`, `pumpScheduled`.

// A query left its slot (reply, timeout, cancel): with maxInflight's queue, the window has room
// for the next waiting query that is still pending. It is sent on the next tick, so that queries
// timing out at the same tick (or cancelled by the callback) are not sent first.
function leftSlot (self, state, slot) {
  if (state.sentSlots[slot] !== 1) return
  state.sentSlots[slot] = 0
  state.sent--
  if (!state.pumpScheduled && state.waitingHead < state.waiting.length) {
    state.pumpScheduled = true
    process.nextTick(sendWaiting, self, state)
  }
}

function sendWaiting (self, state) {
  state.pumpScheduled = false
  if (self.destroyed) return
  const waiting = state.waiting
  while (state.sent < state.window && state.waitingHead < waiting.length) {
    const next = waiting[state.waitingHead]
    const gen = waiting[state.waitingHead + 1]
    state.waitingHead += 2
    const req = self._reqs[next]
    if (state.gens[next] !== gen || !req) continue // cancelled or timed out while waiting
    state.sent++
    state.sentSlots[next] = 1
    self.send(req.peer, req.message)
  }
  if (state.waitingHead === waiting.length) {
    waiting.length = 0
    state.waitingHead = 0
  } else if (state.waitingHead > 1024 && state.waitingHead * 2 > waiting.length) {
    state.waiting = waiting.slice(state.waitingHead)
    state.waitingHead = 0
  }
}

// Queries registered but waiting for maxInflight's window (some may have been cancelled since).
function waitingCount (self, state) {
  let n = 0
  for (let i = state.waitingHead; i < state.waiting.length; i += 2) {
    if (state.gens[state.waiting[i]] === state.waiting[i + 1] && self._reqs[state.waiting[i]]) n++
  }
  return n
}

module.exports = { leftSlot, waitingCount }
