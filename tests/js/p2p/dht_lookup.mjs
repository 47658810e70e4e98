// Look an infohash up with bittorrent-dht (an independent DHT implementation), bootstrapping only
// from the node given on the command line, and print every peer found as JSON on stdout:
//   node dht_lookup.mjs <host:port> <infohash hex> <timeout ms>
// Each peer says which node answered with it ("from"), so the caller can tell a reply from our node
// apart from the JS node's own store. Loopback only; exits on its own within the timeout.
import DHT from 'bittorrent-dht'

const [bootstrap, infoHash, timeoutText] = process.argv.slice(2)
if (!bootstrap || !/^[0-9a-f]{40}$/.test(infoHash || '')) {
  console.error('usage: dht_lookup.mjs <host:port> <infohash> <timeout ms>')
  process.exit(2)
}
const timeout = Number(timeoutText || 10000)
const dht = new DHT({ bootstrap: [bootstrap], host: false })
const peers = new Map()
let settled = false

function finish (code, error) {
  if (settled) return
  settled = true
  clearTimeout(timer)
  dht.destroy(() => {
    if (error) console.error(error)
    process.stdout.write(JSON.stringify({ peers: [...peers.values()] }) + '\n')
    process.exit(code)
  })
}

const timer = setTimeout(() => finish(peers.size ? 0 : 1, peers.size ? null : 'no peer found in time'), timeout)

dht.on('error', (err) => finish(3, String(err)))
dht.on('peer', (peer, hash, from) => {
  if (hash.toString('hex') !== infoHash) return
  const source = from ? `${from.address || from.host}:${from.port}` : 'local'
  peers.set(`${peer.host}:${peer.port}:${source}`, { host: peer.host, port: peer.port, from: source })
})
dht.listen(0, '127.0.0.1', () => {
  dht.once('ready', () => {
    let rounds = 0
    const look = () => {
      rounds += 1
      dht.lookup(infoHash, () => {
        if ([...peers.values()].some((p) => p.from !== 'local')) return finish(0)
        if (rounds < 5) setTimeout(look, 500)
      })
    }
    look()
  })
})
