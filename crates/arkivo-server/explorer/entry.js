// A log entry as the v1 API returns it: its body decoded for display, and its proofs verified
// step by step (rekor-v1-api.md §4): the leaf hash against the entry UUID, the inclusion proof
// against the proof's root (RFC 9162 §2.1.3.2), that root against the signed checkpoint, the
// checkpoint's signature and the SET with the log's ECDSA key.
import { describeCertificate, pemBlock } from './der.js';
import { fromHex, hex, leafHash, rootFromInclusionProof, sha256 } from './merkle.js';
import { parseCheckpoint, parseNote, verifyEcdsa } from './note.js';

const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const utf8 = (bytes) => new TextDecoder().decode(bytes);

/** A base64 PEM (or DER) of a key or certificate → {kind, pem, certificate?}. */
function signer(content, raw) {
  const bytes = b64(content);
  const pem = raw ? null : utf8(bytes);
  const certDer = raw ? (raw === 'x509' ? bytes : null) : pemBlock(pem, 'CERTIFICATE');
  if (certDer) {
    try {
      return { kind: 'certificate', certificate: describeCertificate(certDer) };
    } catch (e) {
      return { kind: 'certificate', error: `unreadable certificate: ${e.message}` };
    }
  }
  return { kind: 'public key', pem: pem || `-----BEGIN PUBLIC KEY-----\n${content}\n-----END PUBLIC KEY-----\n` };
}

/** The body's fields worth showing, by kind (docs/rekor-v1-api.md §2 for each body). */
export function decodeBody(bodyB64) {
  const body = JSON.parse(utf8(b64(bodyB64)));
  const spec = body.spec || {};
  const out = { kind: body.kind, apiVersion: body.apiVersion, digests: [], signers: [], payloadType: null, raw: body };
  if (body.kind === 'hashedrekord' && spec.hashedRekordV002) {
    const s = spec.hashedRekordV002;
    out.digests.push(`${s.data.algorithm === 'SHA2_256' ? 'sha256' : s.data.algorithm}:${hex(b64(s.data.digest))}`);
    const v = s.signature.verifier;
    out.signers.push({ signature: s.signature.content, ...(v.x509Certificate ? signer(v.x509Certificate.rawBytes, 'x509') : signer(v.publicKey.rawBytes, 'spki')) });
  } else if (body.kind === 'hashedrekord' || body.kind === 'rekord') {
    // rekord keeps the data's hash and the signature as hashedrekord does (rekor-v1-api.md §5a).
    out.digests.push(`${spec.data.hash.algorithm}:${spec.data.hash.value}`);
    out.signers.push({ signature: spec.signature.content, ...signer(spec.signature.publicKey.content) });
  } else if (body.kind === 'dsse' && spec.dsseV002) {
    const s = spec.dsseV002;
    out.digests.push(`sha256:${hex(b64(s.payloadHash.digest))}`);
    for (const sig of s.signatures) {
      const v = sig.verifier;
      out.signers.push({ signature: sig.content, ...(v.x509Certificate ? signer(v.x509Certificate.rawBytes, 'x509') : signer(v.publicKey.rawBytes, 'spki')) });
    }
  } else if (body.kind === 'dsse') {
    out.digests.push(`${spec.payloadHash.algorithm}:${spec.payloadHash.value}`);
    for (const sig of spec.signatures) out.signers.push({ signature: sig.signature, ...signer(sig.verifier) });
  } else if (body.kind === 'intoto') {
    const c = spec.content || {};
    if (c.payloadHash) out.digests.push(`${c.payloadHash.algorithm}:${c.payloadHash.value}`);
    const env = c.envelope || {};
    // The payload type is kept as the client sent it (a media type, not base64: rekor-v1-api.md).
    out.payloadType = env.payloadType ?? null;
    for (const sig of env.signatures || []) out.signers.push({ signature: sig.sig, ...signer(sig.publicKey) });
  }
  return out;
}

/** The identities a signer names: the certificate's SANs, or none for a bare key. */
export const identities = (s) => (s.certificate ? s.certificate.identities : []);

/** One verification step: what was checked, whether it held, and the values compared. */
const step = (name, ok, detail) => ({ name, ok, detail });

/** Verifies `entry` against the log key `logKeyPEM`; returns the steps, stopping at the first
 * failure (a later step would be checking against something already refuted). `verified` is
 * true only when every step held. */
export async function verifyEntry(entry, logKeyPEM) {
  const steps = [];
  const fail = (name, detail) => {
    steps.push(step(name, false, detail));
    return { verified: false, steps };
  };
  if (!globalThis.crypto || !crypto.subtle) {
    return fail('WebCrypto', 'this page is not a secure context (HTTPS or localhost), so the browser offers no WebCrypto to verify with');
  }
  try {
    const proof = entry.verification.inclusionProof;
    const body = b64(entry.body);
    const leaf = await leafHash(body);
    const idLeaf = entry.uuid.slice(-64);
    if (hex(leaf) !== idLeaf) return fail('Leaf hash', `SHA-256(0x00 ‖ body) = ${hex(leaf)}, but the entry UUID ends in ${idLeaf}`);
    steps.push(step('Leaf hash', true, `SHA-256(0x00 ‖ body) = ${hex(leaf)}, as in the entry UUID`));

    const root = await rootFromInclusionProof(proof.logIndex, proof.treeSize, leaf, proof.hashes.map(fromHex));
    if (hex(root) !== proof.rootHash) return fail('Inclusion proof', `the ${proof.hashes.length} hashes lead from leaf ${proof.logIndex} to root ${hex(root)}, not to the root given, ${proof.rootHash}`);
    steps.push(step('Inclusion proof', true, `the ${proof.hashes.length} hashes lead from leaf ${proof.logIndex} of ${proof.treeSize} to root ${hex(root)}`));

    const note = parseNote(proof.checkpoint);
    const cp = parseCheckpoint(note.text);
    if (cp.size !== proof.treeSize || hex(cp.rootHash) !== proof.rootHash) {
      return fail('Checkpoint', `the checkpoint is of size ${cp.size}, root ${hex(cp.rootHash)}; the proof is for size ${proof.treeSize}, root ${proof.rootHash}`);
    }
    steps.push(step('Checkpoint', true, `${cp.origin}: size ${cp.size}, root ${hex(cp.rootHash)}, the proof's`));

    // The log's key ID is the SHA-256 of its SPKI (rekor-v1-api.md §4); a Rekor v1 checkpoint's
    // origin is "<name> - <tree ID>", and the log signs it as <name> with the key ID's first 4
    // bytes as key hint (signed-note §Signatures). Only that line counts.
    const spki = pemBlock(logKeyPEM, 'PUBLIC KEY');
    const logID = hex(await sha256(spki));
    const name = cp.origin.split(' - ')[0];
    const line = note.signatures.find((s) => s.name === name && hex(s.keyID) === logID.slice(0, 8));
    if (!line) return fail('Checkpoint signature', `no signature by ${name} with the log key's hint ${logID.slice(0, 8)}`);
    if (!(await verifyEcdsa(logKeyPEM, note.text, line.sig))) return fail('Checkpoint signature', `the signature of ${name} does not verify with the log's key`);
    steps.push(step('Checkpoint signature', true, `ECDSA P-256 signature of ${name} verified with the log's key ${logID.slice(0, 16)}…`));

    // The SET signs the canonical JSON (RFC 8785) of these four fields, in this (sorted) order.
    const payload = JSON.stringify({ body: entry.body, integratedTime: entry.integratedTime, logID: entry.logID, logIndex: entry.logIndex });
    if (logID !== entry.logID) return fail('Log ID', `the entry names log ${entry.logID}; the key's ID is ${logID}`);
    const setOk = await verifyEcdsa(logKeyPEM, payload, b64(entry.verification.signedEntryTimestamp));
    if (!setOk) return fail('Signed entry timestamp', 'the SET does not verify with the log\'s key');
    steps.push(step('Signed entry timestamp', true, `integrated at ${new Date(entry.integratedTime * 1000).toISOString()}, signed by log ${logID.slice(0, 16)}…`));
    return { verified: true, steps };
  } catch (e) {
    return fail('Malformed answer', e.message);
  }
}
