// Signed notes (C2SP signed-note) and the checkpoints in them (C2SP tlog-checkpoint), verified
// with WebCrypto: the Rekor v1 checkpoint is signed with the log's ECDSA P-256 key (signature:
// 4-byte key hint ‖ DER ECDSA over the note text), the C2SP one with its Ed25519 key (key ID ‖
// Ed25519 signature), witnesses cosign with Ed25519 (type 0x04: 8-byte timestamp ‖ signature).
import { ecdsaDerToRaw, pemBlock } from './der.js';
import { concat, sha256 } from './merkle.js';

export const toB64 = (bytes) => btoa(String.fromCharCode(...bytes));
// Strict, as the server's own note parser is: atob ignores the unused bits of the last
// character, so a changed signature line could otherwise decode to the same bytes.
const b64 = (s) => {
  const bytes = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  if (toB64(bytes) !== s) throw new Error(`not canonical base64: ${s.slice(0, 60)}`);
  return bytes;
};

/** A signed note → {text (what signatures cover), signatures: [{name, keyID, sig}]}; throws on
 * a malformed one (signed-note §Format). */
export function parseNote(note) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('the note has no signature block');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split('\n');
  if (lines.pop() !== '') throw new Error('the note does not end with a newline');
  const signatures = lines.map((line) => {
    const m = line.match(/^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/);
    if (!m) throw new Error(`not a signature line: ${line.slice(0, 60)}`);
    const raw = b64(m[2]);
    if (raw.length < 5) throw new Error('signature too short');
    return { name: m[1], keyID: raw.subarray(0, 4), sig: raw.subarray(4) };
  });
  return { text, signatures };
}

/** A checkpoint's body (tlog-checkpoint §Note text): origin, tree size, root hash, extensions. */
export function parseCheckpoint(text) {
  const lines = text.split('\n');
  lines.pop();
  if (lines.length < 3) throw new Error('a checkpoint has at least three lines');
  const [origin, size, root, ...extensions] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error(`bad tree size ${size}`);
  const rootHash = b64(root);
  if (rootHash.length !== 32) throw new Error('the root hash is not 32 bytes');
  return { origin, size: Number(size), rootHash, extensions };
}

/** Whether `sig` (DER) is the log's ECDSA P-256 SHA-256 signature of `message`, by the key in
 * `pem` (a PUBLIC KEY block). */
export async function verifyEcdsa(pem, message, sig) {
  const spki = pemBlock(pem, 'PUBLIC KEY');
  if (!spki) throw new Error('the log key is not a PEM public key');
  const key = await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  let raw;
  try {
    raw = ecdsaDerToRaw(sig);
  } catch {
    return false;
  }
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, raw, new TextEncoder().encode(message));
}

/** The note key ID of an Ed25519 key (signed-note §Signatures): SHA-256(name ‖ 0x0A ‖ type ‖
 * key)[:4]. */
async function keyID(name, type, rawKey) {
  return (await sha256(concat(new TextEncoder().encode(`${name}\n`), [type], rawKey))).subarray(0, 4);
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Verifies the note's signature by the Ed25519 key `spki` (DER) under `name`: the line whose
 * name and key ID are that key's must verify. */
export async function verifyEd25519Note(note, name, spki) {
  const key = await crypto.subtle.importKey('spki', spki, { name: 'Ed25519' }, true, ['verify']);
  const rawKey = new Uint8Array(await crypto.subtle.exportKey('raw', key));
  const id = await keyID(name, 0x01, rawKey);
  const line = note.signatures.find((s) => s.name === name && same(s.keyID, id));
  if (!line) return false;
  return crypto.subtle.verify({ name: 'Ed25519' }, key, line.sig, new TextEncoder().encode(note.text));
}
