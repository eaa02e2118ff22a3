'use strict'
// The options this package adds are checked at construction (lib/options.js); the reference's own
// options keep the reference's behaviour (diff-construct.test.js), and keys this package does not
// know are ignored, since k-rpc and bittorrent-dht hand their whole options object on.

const { test } = require('node:test')
const assert = require('assert')
const krpc = require('..')

const BAD = [
  [{ type: 'udp5' }, /"type" option must be 'udp4' or 'udp6'\. Received 'udp5'/],
  [{ type: 6 }, /"type" option/],
  [{ maxInflight: 0 }, /"maxInflight" option must be a positive integer or \{ limit, queue \}\. Received 0/],
  [{ maxInflight: { limit: 0, queue: 5 } }, /"maxInflight\.limit" option must be a positive integer\. Received 0/],
  [{ maxInflight: { limit: 5 } }, /"maxInflight\.queue" option must be a positive integer\. Received undefined/],
  [{ maxInflight: -1 }, /Received -1/],
  [{ maxInflight: 'x' }, /Received 'x'/],
  [{ maxInflight: 1.5 }, /Received 1\.5/],
  [{ rateLimit: 'yes' }, /"rateLimit" option must be a boolean or \{ perSecond, windowMs, blockMs \}\. Received 'yes'/],
  [{ rateLimit: { perSecond: -1 } }, /"rateLimit\.perSecond" option must be a positive number\. Received -1/],
  [{ rateLimit: { windowMs: 0 } }, /"rateLimit\.windowMs"/],
  [{ rateLimit: { blockMs: -5 } }, /"rateLimit\.blockMs"/],
  [{ matchPort: 'yes' }, /"matchPort" option must be a boolean/],
  [{ readOnly: 1 }, /"readOnly" option must be a boolean\. Received 1/],
  [{ readOnly: 'true' }, /"readOnly" option must be a boolean/],
  [{ type: 'udp6', ipv6Only: 0 }, /"ipv6Only" option must be a boolean\. Received 0/],
  [{ ipv6Only: false }, /"ipv6Only" option must be given with type: 'udp6' and without socket\. Received false/],
  [{ type: 'udp4', ipv6Only: true }, /"ipv6Only" option must be given with type: 'udp6'/],
  [{ type: 'udp6', ipv6Only: false, socket: { on () {} } }, /"ipv6Only" option must be given with type: 'udp6' and without socket/],
  [{ sendRate: 250 }, /"sendRate" option must be an object \{ perSecond, burst \}\. Received 250/],
  [{ sendRate: {} }, /"sendRate\.perSecond" option must be a positive number\. Received undefined/],
  [{ sendRate: { perSecond: 0 } }, /"sendRate\.perSecond"/],
  [{ sendRate: { perSecond: Infinity } }, /"sendRate\.perSecond"/],
  [{ sendRate: { perSecond: 10, burst: 0 } }, /"sendRate\.burst" option must be a positive integer\. Received 0/],
  [{ sendRate: { perSecond: 10, burst: 1.5 } }, /"sendRate\.burst"/],
  [{ sendRate: { perSecond: 10 }, socket: { on () {} } }, /"sendRate" option must be given without socket/]
]

for (const [opts, message] of BAD) {
  test(`krpc(${JSON.stringify(opts)}) throws a TypeError (ERR_INVALID_ARG_VALUE) before anything is created`, () => {
    assert.throws(() => krpc(opts), err => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_VALUE' && message.test(err.message))
    assert.throws(() => new krpc(opts), TypeError) // eslint-disable-line new-cap
  })
}

test('valid added options, and the keys k-rpc and bittorrent-dht pass on, construct an instance', () => {
  for (const opts of [
    {},
    { type: 'udp4' },
    { type: 'udp6', matchPort: true, maxInflight: 16 },
    { rateLimit: true },
    { rateLimit: false },
    { readOnly: true },
    { readOnly: false },
    { type: 'udp6', ipv6Only: false },
    { type: 'udp6', ipv6Only: true },
    { sendRate: { perSecond: 250 } },
    { maxInflight: { limit: 8, queue: 1000 } },
    { sendRate: { perSecond: 0.5, burst: 3 } },
    { rateLimit: { perSecond: 5, windowMs: 10000, blockMs: 0 } },
    { type: undefined, maxInflight: null, rateLimit: undefined },
    { timeout: 100, nodes: [], bootstrap: false, k: 20, concurrency: 16, idLength: 20, host: '127.0.0.1' }
  ]) {
    const rpc = krpc(opts)
    assert.strictEqual(rpc.destroyed, false)
    rpc.destroy()
  }
})
