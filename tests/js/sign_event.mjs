// Sign a Nostr event the way a NIP-07 browser extension would, with nostr-tools
// (an implementation independent of the server's). Reads JSON from stdin:
//   {"secret_key": "<64 hex>", "template": {"kind": ..., "created_at": ..., "tags": [...], "content": "..."}}
// and prints the signed event JSON on stdout.
import { finalizeEvent, verifyEvent } from 'nostr-tools/pure'

function hexToBytes (hex) {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('secret_key must be 64 lowercase hex characters')
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

let input = ''
for await (const chunk of process.stdin) input += chunk
const { secret_key: secretKey, template } = JSON.parse(input)
const event = finalizeEvent(template, hexToBytes(secretKey))
if (!verifyEvent(event)) throw new Error('nostr-tools produced an event it cannot verify')
process.stdout.write(JSON.stringify(event) + '\n')
