// WebTorrent (the npm library, in Node) as a client of the interop suite, run inside a client
// namespace: `node webtorrent_client.js SAVE_DIR SOURCE [--dht HOST:PORT] [--rate BYTES]`.
// SOURCE is a .torrent path or a magnet link. Downloads until every piece is verified, prints a JSON
// summary and exits 0; exits 1 on a client error. WebTorrent verifies the pieces already on disk when
// a torrent is added, so a second run after a kill resumes.
'use strict'

const fs = require('fs')
const WebTorrent = require('webtorrent')

function parse (argv) {
  const args = { dht: '', rate: -1, positional: [] }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--dht') args.dht = argv[++i]
    else if (argv[i] === '--rate') args.rate = Number(argv[++i])
    else args.positional.push(argv[i])
  }
  if (args.positional.length !== 2 || !(args.rate === -1 || args.rate > 0)) {
    process.stderr.write('usage: webtorrent_client.js SAVE_DIR SOURCE [--dht HOST:PORT] [--rate BYTES]\n')
    process.exit(2)
  }
  return args
}

const args = parse(process.argv.slice(2))
const [saveDir, source] = args.positional
const client = new WebTorrent({
  // A private DHT: our node is the only bootstrap node (bittorrent-dht takes "host:port" strings).
  dht: args.dht ? { bootstrap: [args.dht] } : false,
  lsd: false,
  utp: false, // the optional native uTP module is not installed (.npmrc: no install scripts)
  downloadLimit: args.rate
})
client.on('error', (err) => {
  process.stderr.write(`webtorrent: ${err.message}\n`)
  process.exit(1)
})
const torrentId = source.startsWith('magnet:') ? source : fs.readFileSync(source)
client.add(torrentId, { path: saveDir }, (torrent) => {
  torrent.on('error', (err) => {
    process.stderr.write(`torrent: ${err.message}\n`)
    process.exit(1)
  })
  torrent.on('done', () => {
    const sources = new Set(torrent.wires.map((wire) => (wire.type === 'webSeed' ? 'webseed' : 'peer')))
    process.stdout.write(JSON.stringify({ ok: true, downloaded: torrent.downloaded, sources: [...sources] }) + '\n')
    // destroy() closes the file store, flushing what is still buffered before the harness reads it.
    client.destroy(() => process.exit(0))
  })
})
