// Independent Blossom clients for the Python tests: nostr-tools signs the BUD-11 (kind 24242)
// tokens, and either plain fetch (action "tools-flow") or hzrd149's blossom-client-sdk
// (action "sdk-flow") talks to the server. Reads one JSON command on stdin, prints one JSON
// result on stdout; binary payloads travel as base64. Action "sign" just signs a template.
import { readFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { finalizeEvent, getPublicKey, verifyEvent } from 'nostr-tools/pure'
import { Actions, createDeleteAuth, createListAuth, createMirrorAuth, createUploadAuth } from 'blossom-client-sdk'

function hexToBytes (hex) {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('secret_key must be 64 lowercase hex characters')
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

const sha256Hex = (bytes) => createHash('sha256').update(bytes).digest('hex')
const b64 = (bytes) => Buffer.from(bytes).toString('base64')
const now = () => Math.floor(Date.now() / 1000)

function sign (sk, template) {
  const event = finalizeEvent(template, sk)
  if (!verifyEvent(event)) throw new Error('nostr-tools produced an event it cannot verify')
  return event
}

// Standard base64 with padding, or URL-safe without: the server must take both.
function authHeader (event, urlSafe) {
  const raw = Buffer.from(JSON.stringify(event), 'utf8').toString('base64')
  return 'Nostr ' + (urlSafe ? raw.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') : raw)
}

function token (sk, verb, hashes = [], extra = []) {
  const tags = [['t', verb], ['expiration', String(now() + 600)], ...hashes.map((h) => ['x', h]), ...extra]
  return sign(sk, { kind: 24242, created_at: now(), tags, content: `${verb} blob` })
}

async function answer (response) {
  const body = new Uint8Array(await response.arrayBuffer())
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    body: b64(body),
    sha256: sha256Hex(body)
  }
}

// Raw HTTP with nostr-tools tokens: upload, preflight, fetch (whole, one range, two ranges), list, delete.
async function toolsFlow ({ server, secret_key: secretKey, file, type }) {
  const sk = hexToBytes(secretKey)
  const pubkey = getPublicKey(sk)
  const data = await readFile(file)
  const sha = sha256Hex(data)
  const out = { pubkey, sha256: sha }
  out.preflight = await answer(await fetch(new URL('/upload', server), {
    method: 'HEAD',
    headers: {
      Authorization: authHeader(token(sk, 'upload', [sha]), false),
      'X-SHA-256': sha,
      'X-Content-Length': String(data.length),
      'X-Content-Type': type
    }
  }))
  const upload = await fetch(new URL('/upload', server), {
    method: 'PUT',
    body: data,
    headers: { Authorization: authHeader(token(sk, 'upload', [sha]), false), 'Content-Type': type, 'X-SHA-256': sha }
  })
  out.upload = { status: upload.status, descriptor: await upload.json() }
  out.again = { status: (await fetch(new URL('/upload', server), {
    method: 'PUT',
    body: data,
    headers: { Authorization: authHeader(token(sk, 'upload', [sha]), true), 'Content-Type': type }
  })).status }
  out.get = await answer(await fetch(out.upload.descriptor.url))
  out.range = await answer(await fetch(out.upload.descriptor.url, { headers: { Range: 'bytes=100-199' } }))
  out.multi = await answer(await fetch(out.upload.descriptor.url, { headers: { Range: 'bytes=0-9,50-59' } }))
  out.head = await answer(await fetch(new URL('/' + sha, server), { method: 'HEAD' }))
  const list = await fetch(new URL('/list/' + pubkey, server), {
    headers: { Authorization: authHeader(token(sk, 'list'), true) }
  })
  out.list = { status: list.status, body: await list.json() }
  const del = await fetch(new URL('/' + sha, server), {
    method: 'DELETE',
    headers: { Authorization: authHeader(token(sk, 'delete', [sha]), true) }
  })
  out.delete = { status: del.status, body: await del.json() }
  out.after = await answer(await fetch(new URL('/' + sha, server), { method: 'HEAD' }))
  return out
}

// The maintained client SDK end to end, signing with nostr-tools.
async function sdkFlow ({ server, secret_key: secretKey, files, type, mirror_server: mirrorServer }) {
  const sk = hexToBytes(secretKey)
  const pubkey = getPublicKey(sk)
  const signer = async (draft) => sign(sk, draft)
  const out = { pubkey, uploads: [] }
  for (const file of files) {
    const data = await readFile(file)
    const blob = new Blob([data], { type })
    const descriptor = await Actions.uploadBlob(server, blob, {
      onAuth: (srv, sha256) => createUploadAuth(signer, sha256, { servers: [srv] })
    })
    out.uploads.push(descriptor)
  }
  const pages = []
  for await (const page of Actions.iterateBlobs(server, pubkey, {
    limit: 1,
    onAuth: (srv) => createListAuth(signer, { servers: [srv] })
  })) {
    pages.push(page.map((d) => d.sha256))
    if (pages.length > 20) break
  }
  out.pages = pages
  const first = out.uploads[0]
  const download = await Actions.downloadBlob(server, first.sha256, {})
  const bytes = new Uint8Array(await download.arrayBuffer())
  out.download = { sha256: sha256Hex(bytes), type: download.headers.get('content-type'), body: b64(bytes) }
  out.has = await Actions.hasBlob(server, first.sha256)
  if (mirrorServer) {
    out.mirror = await Actions.mirrorBlob(mirrorServer, first, {
      onAuth: (srv, sha256) => createMirrorAuth(signer, sha256, { servers: [srv] })
    })
  }
  const report = sign(sk, { kind: 1984, created_at: now(), tags: [['x', first.sha256, 'spam']], content: 'test report' })
  const reported = await Actions.reportBlobs([server], report, {})
  out.reported = reported.get(server) === true
  for (const descriptor of out.uploads) {
    await Actions.deleteBlob(server, descriptor.sha256, {
      onAuth: (srv, sha256) => createDeleteAuth(signer, sha256, { servers: [srv] })
    })
  }
  out.has_after = await Actions.hasBlob(server, first.sha256)
  return out
}

let input = ''
for await (const chunk of process.stdin) input += chunk
const command = JSON.parse(input)
let result
if (command.action === 'sign') result = sign(hexToBytes(command.secret_key), command.template)
else if (command.action === 'tools-flow') result = await toolsFlow(command)
else if (command.action === 'sdk-flow') result = await sdkFlow(command)
else throw new Error(`unknown action ${command.action}`)
process.stdout.write(JSON.stringify(result) + '\n')
