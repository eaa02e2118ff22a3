#!/usr/bin/env node
'use strict'
// krpc: a dig for the BitTorrent DHT. Sends one KRPC query (BEP 5) and prints the decoded reply,
// or runs a minimal responder that prints what it receives. Node built-ins and this package only.
// The work is in lib/cli/: args.js (command line), compact.js (compact node/peer info),
// render.js (views, escaping, text and JSON output), client.js (ping, query), server.js (serve).

const { EXIT_OK, EXIT_FAILURE, EXIT_USAGE, DEFAULT_TIMEOUT, UsageError, parseArgs, parseTimeout, parseAddress, parseValue, parseQueryArgs } = require('../lib/cli/args')
const { ipv6, compactNodes } = require('../lib/cli/compact')
const { view, toJSON, inline, render, escapeText, stringify, print, printError } = require('../lib/cli/render')
const { Failure, cmdPing, cmdQuery } = require('../lib/cli/client')
const { cmdServe } = require('../lib/cli/server')

const USAGE = `usage: krpc ping HOST:PORT [--id HEX] [--timeout MS] [--udp6] [--json]
       krpc query HOST:PORT METHOD [key=value ...] [--id HEX] [--timeout MS] [--udp6] [--json]
       krpc serve [--port N] [--host ADDR] [--id HEX] [--udp6] [--json]
       krpc --help`

const HELP = `krpc: a dig for the BitTorrent DHT (KRPC over UDP, BEP 5)

${USAGE}

commands:
  ping HOST:PORT            send 'ping'; print the responder's id and the round-trip time
  query HOST:PORT METHOD [key=value ...]
                            send any query; print the decoded reply
  serve                     answer queries (minimal: ping, find_node, get_peers, announce_peer)
                            and print each query received, one per line, until SIGINT/SIGTERM

addresses:
  1.2.3.4:6881  router.example.org:6881  [::1]:6881  (IPv6 literals in brackets)

query arguments (the 'a' dictionary; a.id defaults to a random 20-byte id):
  <32+ hex digits, even>    bytes           target=<40 hex>, info_hash=<40 hex>
  0x<hex>                   bytes           token=0x1f2e3d4c (any even number of digits)
  hex:<hex>                 bytes           token=hex:1f2e
  <digits>                  integer         port=6881 implied_port=1
  str:<text>                string          name=str:1234
  anything else             string          want=n4
  (odd hex, and an id, target or info_hash that is not 20 bytes, are usage errors)

options:
  --id HEX                  our node id, 40 hex digits (default: 20 random bytes)
  --timeout MS              how long to wait for a reply (default ${DEFAULT_TIMEOUT})
  --udp6                    use an IPv6 socket (automatic for [IPv6] addresses)
  --json                    print one JSON object (serve: one JSON object per line);
                            byte strings as hex, nodes and peers as objects
  --port N                  serve: port to bind (default 0: any free port)
  --host ADDR               serve: address to bind (default 0.0.0.0, or :: with --udp6)
  -h, --help                this text
  --version                 the package version

exit status:
  0 reply received (serve: stopped by a signal)   1 socket or internal failure
  2 usage error or bad address                    3 no reply within the timeout
  4 error reply                                   5 host name could not be resolved

examples:
  krpc ping router.bittorrent.com:6881
  krpc query 127.0.0.1:6881 find_node target=d1c5a3e4a1e0d9a0cbc5d3a4f0ad1e2b3c4d5e6f
  krpc query [::1]:6881 get_peers info_hash=0123456789abcdef0123456789abcdef01234567 --json
  krpc serve --port 6881 --host 127.0.0.1`

async function main (argv) {
  let parsed
  try {
    parsed = parseArgs(argv)
  } catch (err) {
    return usageError(err)
  }
  const { opts, positional } = parsed
  if (opts.help || positional[0] === 'help') {
    print(HELP)
    return EXIT_OK
  }
  if (opts.version) {
    print(require('../package.json').version)
    return EXIT_OK
  }
  const command = positional.shift()
  try {
    if (command === undefined) throw new UsageError('missing command')
    if (command !== 'serve' && (opts.port !== undefined || opts.host !== undefined)) {
      throw new UsageError(`--${opts.port !== undefined ? 'port' : 'host'} is only for serve`)
    }
    if (command === 'serve' && opts.timeout !== undefined) throw new UsageError('--timeout is not for serve')
    opts.timeout = parseTimeout(opts.timeout)
    if (command === 'ping') await cmdPing(positional, opts)
    else if (command === 'query') await cmdQuery(positional, opts)
    else if (command === 'serve') await cmdServe(positional, opts)
    else throw new UsageError(`unknown command '${command}'`)
  } catch (err) {
    if (err instanceof UsageError) return usageError(err)
    if (err instanceof Failure) {
      if (opts.json && err.json) print(stringify(err.json))
      printError(err.message)
      return err.exitCode
    }
    printError(err && err.stack ? err.stack : String(err), true)
    return EXIT_FAILURE
  }
  return process.exitCode || EXIT_OK
}

function usageError (err) {
  printError(err.message)
  process.stderr.write(USAGE + '\n')
  return EXIT_USAGE
}

if (require.main === module) {
  main(process.argv.slice(2)).then(code => { process.exitCode = code })
} else {
  module.exports = { main, parseArgs, parseAddress, parseValue, parseQueryArgs, view, toJSON, inline, render, ipv6, compactNodes, escapeText, stringify }
}
