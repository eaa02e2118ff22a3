'use strict'
// maxInflight's queue mode (`maxInflight: { limit, queue }`): at most `limit` queries are sent
// and unanswered; the others are registered (tid, timeout running) but wait here, first in first
// out, until a sent query leaves its slot. The state lives in the instance's private state
// (index.js): `window`, `waitingMax`, `waiting` (slot, gen pairs from `waitingHead`; entries of
// queries that left while waiting stay until the pump passes them), `sent`, `waitingLive` (the
// queries really waiting), `sentSlots` (per slot: SENT, WAITING or 0), `pumpScheduled`.

const SENT = 1
const WAITING = 2

// A query joins the queue: registered, not sent.
function wait (state, slot, gen) {
  state.waiting.push(slot, gen)
  state.sentSlots[slot] = WAITING
  state.waitingLive++
}

// A query goes out at once (the window has room).
function sentNow (state, slot) {
  state.sent++
  state.sentSlots[slot] = SENT
}

// A query left its slot (reply, timeout, cancel): with maxInflight's queue, the window has room
// for the next waiting query that is still pending. It is sent on the next tick, so that queries
// timing out at the same tick (or cancelled by the callback) are not sent first.
function leftSlot (self, state, slot) {
  const was = state.sentSlots[slot]
  state.sentSlots[slot] = 0
  // A waiting query that is cancelled or times out frees its place in the queue at once (its
  // entry is skipped by the pump), so stale entries never count against `queue`.
  if (was === WAITING) state.waitingLive--
  if (was !== SENT) return
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
    if (state.gens[next] !== gen || !req || state.sentSlots[next] !== WAITING) continue // left while waiting
    state.waitingLive--
    sentNow(state, next)
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

module.exports = { wait, sentNow, leftSlot }
