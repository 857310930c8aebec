// The official Sigstore JavaScript libraries against a running Arkivo server:
//
//   node sigstore-js.mjs <baseUrl>        e.g. node sigstore-js.mjs http://127.0.0.1:41234
//
// 1. Reads the log's TrustedRoot (/api/v1/log/trustedRoot) and public key (/api/v1/log/publicKey)
//    and checks that they describe the same ECDSA P-256 key and log ID.
// 2. Signs a random blob (hashedrekord) and a random in-toto statement (dsse) with a local P-256
//    key (no Fulcio) through @sigstore/sign's bundle builders and RekorWitness (Rekor v1 API).
// 3. Checks every logged entry independently (body, SET, inclusion proof, checkpoint) and then
//    verifies the bundles offline with @sigstore/verify against the server's TrustedRoot:
//    tlog threshold 1, no CT logs, the timestamp coming from the SET-covered integrated time.
// 4. Tampered bundles (SET, proof hash, checkpoint signature, body, artifact/payload) and a
//    TrustedRoot with another log key must fail verification, each with the expected error.
// 5. A duplicate submission through RekorWitness with fetchOnConflict returns the logged entry.
// 6. Raw v1 API: the same proposed hashedrekord twice gives 201 then 409 with the same entry ID,
//    and the entry read back by ID (Location) and by index is the one logged.
// 7. An 'intoto' 0.0.2 entry (RekorWitness entryType 'intoto', as `sigstore attest` writes it):
//    its body checked independently (payload hash, the signature base64 twice, the key, no
//    payload), the bundle verified with @sigstore/verify, a tampered payload refused.
// 8. Rekor v2 (tiles-checkpoints-witnesses.md §6): a hashedrekord and a DSSE bundle made through
//    RekorWitness with majorApiVersion 2, a v1 entry logged between them (one tree), each entry
//    checked independently (v0.0.2 body, C2SP key-hash log ID, no time and no SET, proof to an
//    Ed25519-signed checkpoint) and the bundles verified with @sigstore/verify against the
//    TrustedRoot's Ed25519 instance (no timestamp: Rekor v2 asserts none); tampering and a
//    foreign checkpoint key rejected; the same request again is a 409 with x-log-index, and
//    malformed requests are 400s with a JSON message.
//
// Prints one JSON line of results on stdout; exits 1 with a message naming the first failed
// check on stderr (2 for a usage error).

import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE, bundleFromJSON, bundleToJSON, envelopeToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  CheckFailed, b64, check, describe, failOnErrors, flipB64, leafHash, mustFail, progress, sha256, verifies,
} from './checks.mjs';

const FETCH_TIMEOUT_MS = 30_000; // per HTTP request (ours and the libraries')
const OVERALL_TIMEOUT_MS = 180_000; // the whole run
const CLOCK_SKEW_S = 600; // integratedTime must be this close to our clock

const die = failOnErrors('sigstore-js interop', OVERALL_TIMEOUT_MS);

const arg = process.argv[2];
if (!arg || process.argv.length > 3) {
  process.stderr.write('usage: node sigstore-js.mjs <baseUrl>   (e.g. http://127.0.0.1:41234)\n');
  process.exit(2);
}
let base;
try {
  const u = new URL(arg);
  if (!['http:', 'https:'].includes(u.protocol) || u.search || u.hash) throw new Error('not a plain http(s) URL');
  base = arg.replace(/\/+$/, '');
} catch (err) {
  process.stderr.write(`usage: node sigstore-js.mjs <baseUrl>: bad base URL ${JSON.stringify(arg)}: ${err.message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Small helpers: encodings, hashing, JCS, HTTP
// ---------------------------------------------------------------------------------------------

const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX80 = /^[0-9a-f]{80}$/;

function unb64(s, what) {
  check(typeof s === 'string' && STD_B64.test(s), `${what} is not standard padded base64: ${JSON.stringify(s)?.slice(0, 120)}`);
  return Buffer.from(s, 'base64');
}

// RFC 8785 JSON canonicalisation (enough for Rekor bodies and SET payloads: objects, arrays,
// strings, integers, booleans, null).
function jcs(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jcs).join(',')}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${jcs(v[k])}`).join(',')}}`;
}

// One HTTP exchange with a timeout; network failures and timeouts become clear messages.
async function http(method, url, { body, headers = {} } = {}) {
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (err) {
    const why = err?.name === 'TimeoutError' ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s` : describe(err);
    throw new CheckFailed(`${method} ${url}: request failed: ${why}`);
  }
  let text;
  try {
    text = await res.text();
  } catch (err) {
    throw new CheckFailed(`${method} ${url}: reading the response body failed: ${describe(err)}`);
  }
  return { status: res.status, headers: res.headers, text, url, method };
}

function expectStatus(res, status) {
  check(
    res.status === status,
    `${res.method} ${res.url}: expected HTTP ${status}, got ${res.status}; body: ${res.text.slice(0, 500)}`,
  );
}

// `anyJson`: also accept a structured-syntax type such as application/vnd.x+json.
function expectJSON(res, anyJson = false) {
  const ct = res.headers.get('content-type') || '';
  const ok = /^application\/json\b/.test(ct) || (anyJson && /^application\/[^;\s]+\+json\b/.test(ct));
  check(ok, `${res.method} ${res.url}: Content-Type should be application/json, got ${JSON.stringify(ct)}`);
  try {
    return JSON.parse(res.text);
  } catch (err) {
    throw new CheckFailed(`${res.method} ${res.url}: the body is not JSON (${err.message}): ${res.text.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// RFC 6962 / RFC 9162 Merkle inclusion, independent of the libraries
// ---------------------------------------------------------------------------------------------

const nodeHash = (l, r) => sha256(Buffer.from([1]), l, r);
const bitLength = (n) => (n === 0n ? 0 : n.toString(2).length);
const onesCount = (n) => n.toString(2).split('').filter((c) => c === '1').length;

function expectedProofLength(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  return inner + onesCount(index >> BigInt(inner));
}

// RFC 9162 §2.1.3.2; returns the root or null when the proof shape is impossible.
function rootFromInclusionProof(index, size, leaf, hashes) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of hashes) {
    if (sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints (rekor-v1-api.md §8), independent of the libraries
// ---------------------------------------------------------------------------------------------

// `c2sp`: a C2SP checkpoint (Rekor v2), whose origin is the hostname itself, not
// "<hostname> - <tree ID>".
function parseCheckpoint(text, what, { c2sp = false } = {}) {
  check(typeof text === 'string' && text.length > 0, `${what}: checkpoint missing`);
  const parts = text.split('\n\n');
  check(parts.length === 2, `${what}: checkpoint must contain exactly one blank line, got ${parts.length - 1}: ${JSON.stringify(text)}`);
  const [head, sigs] = parts;
  const note = `${head}\n`;
  const lines = head.split('\n');
  check(lines.length === 3, `${what}: checkpoint body must be origin, size, root hash (no other lines), got ${lines.length} lines: ${JSON.stringify(note)}`);
  const [origin, sizeText, rootText] = lines;
  const m = c2sp ? [origin, origin, undefined] : /^(\S+) - ([0-9]+)$/.exec(origin);
  check(m !== null, `${what}: checkpoint origin must be "<hostname> - <decimal tree ID>", got ${JSON.stringify(origin)}`);
  check(/^(0|[1-9][0-9]*)$/.test(sizeText), `${what}: checkpoint tree size is not a decimal: ${JSON.stringify(sizeText)}`);
  const root = unb64(rootText, `${what}: checkpoint root hash`);
  check(root.length === 32, `${what}: checkpoint root hash must be 32 bytes, got ${root.length}`);
  check(sigs.endsWith('\n'), `${what}: checkpoint must end with a newline`);
  const sigLines = sigs.slice(0, -1).split('\n');
  check(sigLines.length === 1, `${what}: checkpoint must carry exactly one signature line, got ${sigLines.length}`);
  const sm = /^\u2014 (\S+) (\S+)$/.exec(sigLines[0]);
  check(sm !== null, `${what}: checkpoint signature line must be "\u2014 <name> <base64>", got ${JSON.stringify(sigLines[0])}`);
  const blob = unb64(sm[2], `${what}: checkpoint signature`);
  check(blob.length > 4, `${what}: checkpoint signature too short`);
  return {
    note,
    origin,
    hostname: m[1],
    treeId: c2sp ? undefined : BigInt(m[2]),
    size: BigInt(sizeText),
    root,
    name: sm[1],
    keyHint: blob.subarray(0, 4),
    signature: blob.subarray(4),
  };
}

// Checks a checkpoint as the JS verifier will see it, with precise messages.
function checkCheckpoint(cp, log, what) {
  check(cp.name === cp.hostname, `${what}: checkpoint signature name ${JSON.stringify(cp.name)} should be the origin's hostname ${JSON.stringify(cp.hostname)}`);
  check(
    log.baseUrl.includes(cp.name),
    `${what}: checkpoint signature name ${JSON.stringify(cp.name)} is not a substring of the TrustedRoot baseUrl ${JSON.stringify(log.baseUrl)} (sigstore-js matches the name against the baseUrl; start the server with --hostname set to the host[:port] of its public URL)`,
  );
  check(cp.keyHint.equals(log.logId.subarray(0, 4)), `${what}: checkpoint key hint ${cp.keyHint.toString('hex')} != first 4 bytes of the log ID ${log.logId.subarray(0, 4).toString('hex')}`);
  // ECDSA over SHA-256 (v1); Ed25519 takes no digest (C2SP).
  const digest = log.key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  check(crypto.verify(digest, Buffer.from(cp.note), log.key, cp.signature), `${what}: checkpoint signature does not verify with the log key over ${JSON.stringify(cp.note)}`);
}

// ---------------------------------------------------------------------------------------------
// A logged entry, from a bundle's TransparencyLogEntry or from a raw v1 LogEntry
// ---------------------------------------------------------------------------------------------

// From the in-memory protobuf object (@sigstore/bundle): int64 as strings, bytes as Buffers.
function fromTLE(tle, what) {
  check(tle && tle.logId && tle.kindVersion, `${what}: the bundle has no usable tlog entry`);
  check(tle.inclusionPromise?.signedEntryTimestamp?.length > 0, `${what}: the tlog entry has no SET (verification.signedEntryTimestamp)`);
  const p = tle.inclusionProof;
  check(p !== undefined, `${what}: the tlog entry has no inclusion proof (verification.inclusionProof)`);
  check(p.checkpoint?.envelope, `${what}: the inclusion proof has no checkpoint`);
  return {
    logIndex: BigInt(tle.logIndex),
    logId: Buffer.from(tle.logId.keyId),
    integratedTime: Number(tle.integratedTime),
    body: Buffer.from(tle.canonicalizedBody),
    set: Buffer.from(tle.inclusionPromise.signedEntryTimestamp),
    kindVersion: { kind: tle.kindVersion.kind, version: tle.kindVersion.version },
    proof: {
      logIndex: BigInt(p.logIndex),
      treeSize: BigInt(p.treeSize),
      rootHash: Buffer.from(p.rootHash),
      hashes: p.hashes.map((h) => Buffer.from(h)),
      checkpoint: p.checkpoint.envelope,
    },
  };
}

// From a v1 API response map {"<80 hex id>": {...}} (rekor-v1-api.md §4). Returns [id, entry].
function fromLogEntryMap(map, what) {
  check(map && typeof map === 'object' && !Array.isArray(map), `${what}: a LogEntry must be a JSON object`);
  const keys = Object.keys(map);
  check(keys.length === 1, `${what}: a LogEntry map must have exactly one key, got ${keys.length}`);
  const [id] = keys;
  check(HEX80.test(id), `${what}: the LogEntry key must be an 80-hex entry ID, got ${JSON.stringify(id)}`);
  const e = map[id];
  check(e && typeof e === 'object' && !Array.isArray(e), `${what}: the LogEntry value must be an object`);
  const allowed = ['attestation', 'body', 'integratedTime', 'logID', 'logIndex', 'verification'];
  for (const k of Object.keys(e)) check(allowed.includes(k), `${what}: unexpected LogEntry member ${JSON.stringify(k)} (clients deny unknown fields)`);
  check(typeof e.body === 'string', `${what}: body must be a base64 string`);
  check(Number.isSafeInteger(e.integratedTime), `${what}: integratedTime must be an integer, got ${JSON.stringify(e.integratedTime)}`);
  check(typeof e.logID === 'string' && HEX64.test(e.logID), `${what}: logID must be 64 lowercase hex, got ${JSON.stringify(e.logID)}`);
  check(Number.isSafeInteger(e.logIndex) && e.logIndex >= 0, `${what}: logIndex must be an integer >= 0, got ${JSON.stringify(e.logIndex)}`);
  const v = e.verification;
  check(v && typeof v.signedEntryTimestamp === 'string', `${what}: verification.signedEntryTimestamp missing`);
  const p = v.inclusionProof;
  check(p && typeof p === 'object', `${what}: verification.inclusionProof missing`);
  check(Number.isSafeInteger(p.logIndex) && Number.isSafeInteger(p.treeSize), `${what}: inclusionProof.logIndex/treeSize must be integers`);
  check(typeof p.rootHash === 'string' && HEX64.test(p.rootHash), `${what}: inclusionProof.rootHash must be 64 lowercase hex, got ${JSON.stringify(p.rootHash)}`);
  check(Array.isArray(p.hashes) && p.hashes.every((h) => typeof h === 'string' && HEX64.test(h)), `${what}: inclusionProof.hashes must be an array of 64 lowercase hex strings (empty array, not null, when there are none)`);
  check(typeof p.checkpoint === 'string', `${what}: inclusionProof.checkpoint must be a string`);
  const body = unb64(e.body, `${what}: body`);
  let kindVersion = { kind: undefined, version: undefined };
  try {
    const parsed = JSON.parse(body.toString('utf8'));
    kindVersion = { kind: parsed.kind, version: parsed.apiVersion };
  } catch {
    /* reported by checkLogged */
  }
  return [
    id,
    {
      logIndex: BigInt(e.logIndex),
      logId: Buffer.from(e.logID, 'hex'),
      integratedTime: e.integratedTime,
      body,
      set: unb64(v.signedEntryTimestamp, `${what}: signedEntryTimestamp`),
      kindVersion,
      proof: {
        logIndex: BigInt(p.logIndex),
        treeSize: BigInt(p.treeSize),
        rootHash: Buffer.from(p.rootHash, 'hex'),
        hashes: p.hashes.map((h) => Buffer.from(h, 'hex')),
        checkpoint: p.checkpoint,
      },
      raw: e,
    },
  ];
}

// The protobuf-JSON TransparencyLogEntry a bundle would carry for a raw v1 LogEntry (this is what
// RekorWitness builds from the same response).
function tleJSONFromLogEntry(n) {
  const e = n.raw;
  return {
    logIndex: String(e.logIndex),
    logId: { keyId: b64(n.logId) },
    kindVersion: { kind: n.kindVersion.kind, version: n.kindVersion.version },
    integratedTime: String(e.integratedTime),
    inclusionPromise: { signedEntryTimestamp: e.verification.signedEntryTimestamp },
    inclusionProof: {
      logIndex: String(e.verification.inclusionProof.logIndex),
      rootHash: b64(n.proof.rootHash),
      treeSize: String(e.verification.inclusionProof.treeSize),
      hashes: n.proof.hashes.map(b64),
      checkpoint: { envelope: e.verification.inclusionProof.checkpoint },
    },
    canonicalizedBody: e.body,
  };
}

// Everything the JS verifier relies on, checked one by one with precise messages, plus the body
// contents we expect (`expectBody` checks the parsed canonical body).
function checkLogged(n, log, kind, expectBody, what, version = '0.0.1') {
  check(n.kindVersion.kind === kind && n.kindVersion.version === version, `${what}: kind/version should be ${kind}/${version}, got ${n.kindVersion.kind}/${n.kindVersion.version}`);
  check(n.logId.equals(log.logId), `${what}: logID ${n.logId.toString('hex')} != the TrustedRoot log ID ${log.logId.toString('hex')}`);
  const now = Date.now() / 1000;
  check(
    Number.isSafeInteger(n.integratedTime) && Math.abs(n.integratedTime - now) < CLOCK_SKEW_S,
    `${what}: integratedTime ${n.integratedTime} should be Unix seconds close to now (${Math.floor(now)})`,
  );
  check(n.integratedTime * 1000 >= log.validFrom.getTime(), `${what}: integratedTime ${n.integratedTime} precedes the log key's validFor.start ${log.validFrom.toISOString()}`);

  // Body: JCS canonical, the expected kind and contents.
  let body;
  try {
    body = JSON.parse(n.body.toString('utf8'));
  } catch (err) {
    throw new CheckFailed(`${what}: the canonicalized body is not JSON: ${err.message}`);
  }
  check(jcs(body) === n.body.toString('utf8'), `${what}: the canonicalized body is not in JCS (RFC 8785) form: ${n.body.toString('utf8').slice(0, 300)}`);
  check(body.kind === kind && body.apiVersion === version, `${what}: body kind/apiVersion should be ${kind}/${version}, got ${body.kind}/${body.apiVersion}`);
  expectBody(body, what);

  // SET over JCS {body, integratedTime, logID, logIndex} (rekor-v1-api.md §4).
  const setPayload = jcs({ body: b64(n.body), integratedTime: n.integratedTime, logID: n.logId.toString('hex'), logIndex: Number(n.logIndex) });
  check(crypto.verify('sha256', Buffer.from(setPayload), log.key, n.set), `${what}: the SET does not verify with the log key (ECDSA P-256, SHA-256, DER) over ${setPayload.slice(0, 80)}...`);

  // Inclusion proof and checkpoint.
  const p = n.proof;
  check(p.logIndex === n.logIndex, `${what}: inclusionProof.logIndex ${p.logIndex} != logIndex ${n.logIndex} (single-shard log)`);
  check(p.logIndex >= 0n && p.logIndex < p.treeSize, `${what}: inclusionProof.logIndex ${p.logIndex} is not below treeSize ${p.treeSize}`);
  check(p.rootHash.length === 32 && p.hashes.every((h) => h.length === 32), `${what}: proof hashes and root must be 32 bytes`);
  const cp = parseCheckpoint(p.checkpoint, `${what}: inclusionProof.checkpoint`);
  check(cp.size === p.treeSize, `${what}: checkpoint size ${cp.size} != inclusionProof.treeSize ${p.treeSize}`);
  check(cp.root.equals(p.rootHash), `${what}: checkpoint root ${cp.root.toString('hex')} != inclusionProof.rootHash ${p.rootHash.toString('hex')}`);
  checkCheckpoint(cp, log, `${what}: inclusionProof.checkpoint`);
  const want = expectedProofLength(p.logIndex, p.treeSize);
  check(p.hashes.length === want, `${what}: inclusion proof for index ${p.logIndex} in a tree of ${p.treeSize} must have ${want} hashes, got ${p.hashes.length}`);
  const root = rootFromInclusionProof(p.logIndex, p.treeSize, leafHash(n.body), p.hashes);
  check(root !== null && root.equals(p.rootHash), `${what}: the inclusion proof does not lead from the body's leaf hash to rootHash ${p.rootHash.toString('hex')} (computed ${root?.toString('hex')})`);
  return { leaf: leafHash(n.body).toString('hex'), treeId: cp.treeId, treeSize: Number(p.treeSize), proofHashes: p.hashes.length };
}

function hashedrekordBody(digest, signature, pem) {
  return (body, what) => {
    const s = body.spec;
    check(s?.data?.hash?.algorithm === 'sha256', `${what}: spec.data.hash.algorithm should be sha256`);
    check(s.data.hash.value === digest.toString('hex'), `${what}: spec.data.hash.value should be ${digest.toString('hex')}, got ${s.data.hash.value}`);
    check(s.signature?.content === b64(signature), `${what}: spec.signature.content is not the signature that was submitted`);
    check(s.signature?.publicKey?.content === b64(pem), `${what}: spec.signature.publicKey.content is not base64 of the signer's PEM`);
    check(jcs(Object.keys(body).sort()) === '["apiVersion","kind","spec"]', `${what}: unexpected top-level body members`);
  };
}

function dsseBody(envelopeString, payload, signature, pem) {
  return (body, what) => {
    const s = body.spec;
    check(s?.payloadHash?.algorithm === 'sha256' && s.payloadHash.value === sha256(payload).toString('hex'), `${what}: spec.payloadHash should be sha256 ${sha256(payload).toString('hex')}, got ${JSON.stringify(s?.payloadHash)}`);
    check(s?.envelopeHash?.algorithm === 'sha256' && s.envelopeHash.value === sha256(envelopeString).toString('hex'), `${what}: spec.envelopeHash should be sha256 of the envelope string as sent (${sha256(envelopeString).toString('hex')}), got ${JSON.stringify(s?.envelopeHash)}`);
    check(Array.isArray(s.signatures) && s.signatures.length === 1, `${what}: spec.signatures must hold exactly one signature`);
    check(s.signatures[0].signature === b64(signature), `${what}: spec.signatures[0].signature is not the envelope's sig string`);
    check(s.signatures[0].verifier === b64(pem), `${what}: spec.signatures[0].verifier is not base64 of the signer's PEM`);
  };
}

// ---------------------------------------------------------------------------------------------
// Rekor v2 entries (tiles-checkpoints-witnesses.md §6.5), independent of the libraries
// ---------------------------------------------------------------------------------------------

// Checks a v2 TransparencyLogEntry (in-memory protobuf object) against the log's Ed25519 instance
// `logV2`; `expectSpec` checks the v0.0.2 spec. Returns what the caller reports.
function checkLoggedV2(tle, logV2, kind, expectSpec, what) {
  check(tle?.kindVersion?.kind === kind && tle.kindVersion.version === '0.0.2', `${what}: kindVersion should be ${kind}/0.0.2, got ${JSON.stringify(tle?.kindVersion)}`);
  check(Buffer.from(tle.logId.keyId).equals(logV2.logId), `${what}: logId.keyId should be the C2SP key hash ${b64(logV2.logId)}, got ${b64(tle.logId.keyId)}`);
  check(BigInt(tle.integratedTime) === 0n, `${what}: Rekor v2 asserts no time, integratedTime should be 0, got ${tle.integratedTime}`);
  check(tle.inclusionPromise === undefined, `${what}: Rekor v2 signs no SET, inclusionPromise should be absent`);
  const body = Buffer.from(tle.canonicalizedBody);
  const parsed = JSON.parse(body.toString('utf8'));
  check(jcs(parsed) === body.toString('utf8'), `${what}: the canonicalized body is not in JCS (RFC 8785) form: ${body.toString('utf8').slice(0, 300)}`);
  check(parsed.kind === kind && parsed.apiVersion === '0.0.2', `${what}: body kind/apiVersion should be ${kind}/0.0.2`);
  expectSpec(parsed.spec, what);
  const p = tle.inclusionProof;
  const index = BigInt(tle.logIndex);
  check(BigInt(p.logIndex) === index, `${what}: inclusionProof.logIndex ${p.logIndex} != logIndex ${index}`);
  const cp = parseCheckpoint(p.checkpoint.envelope, `${what}: checkpoint`, { c2sp: true });
  check(cp.size === BigInt(p.treeSize) && cp.size > index, `${what}: the checkpoint (size ${cp.size}) must be the proof's tree (${p.treeSize}) and cover index ${index}`);
  check(cp.root.equals(Buffer.from(p.rootHash)), `${what}: checkpoint root != inclusionProof.rootHash`);
  checkCheckpoint(cp, logV2, `${what}: checkpoint`);
  const hashes = p.hashes.map((h) => Buffer.from(h));
  const root = rootFromInclusionProof(index, cp.size, leafHash(body), hashes);
  check(root !== null && root.equals(cp.root), `${what}: the inclusion proof does not lead from the body's leaf hash to the checkpoint root`);
  return { logIndex: Number(index), treeSize: Number(cp.size), proofHashes: hashes.length };
}

// ---------------------------------------------------------------------------------------------
// Verification with @sigstore/verify
// ---------------------------------------------------------------------------------------------

// A bundle goes to disk and back before it is verified, as it would in real use.
const roundtrip = (bundle) => bundleFromJSON(JSON.parse(JSON.stringify(bundleToJSON(bundle))));

function mutated(bundle, mutate) {
  const json = JSON.parse(JSON.stringify(bundleToJSON(bundle)));
  mutate(json.verificationMaterial.tlogEntries[0], json);
  return bundleFromJSON(json);
}

function mustVerify(verifier, bundle, artifact, signerKey, what) {
  const signer = verifies(what, () => verifier.verify(toSignedEntity(roundtrip(bundle), artifact)));
  check(
    signer?.key?.export({ type: 'spki', format: 'der' }).equals(signerKey.export({ type: 'spki', format: 'der' })),
    `${what}: @sigstore/verify returned another signer key`,
  );
}

// The tampering every bundle must not survive. Returns true if a proof hash was flipped (the
// proof was non-empty), false if the proof was empty and an extra hash was appended instead.
function negativeChecks_(label, bundle, artifact, verifiers) {
  const { strict, noTimestamp, foreign, foreignNoTimestamp } = verifiers;
  const entity = (b) => toSignedEntity(b, artifact);
  const noSET = (e) => {
    delete e.inclusionPromise;
  };

  mustFail(`${label}: one bit flipped in the SET`, 'TLOG_INCLUSION_PROMISE_ERROR', /inclusion promise/, () =>
    strict.verify(entity(mutated(bundle, (e) => {
      e.inclusionPromise.signedEntryTimestamp = flipB64(e.inclusionPromise.signedEntryTimestamp);
    }))));

  const hashes = bundle.verificationMaterial.tlogEntries[0].inclusionProof.hashes;
  const flipped = hashes.length > 0;
  if (flipped) {
    mustFail(`${label}: one bit flipped in an inclusion-proof hash`, 'TLOG_INCLUSION_PROOF_ERROR', /calculated root hash/, () =>
      strict.verify(entity(mutated(bundle, (e) => {
        e.inclusionProof.hashes[0] = flipB64(e.inclusionProof.hashes[0], 7);
      }))));
  }
  mustFail(`${label}: an extra inclusion-proof hash`, 'TLOG_INCLUSION_PROOF_ERROR', /hash count/, () =>
    strict.verify(entity(mutated(bundle, (e) => {
      e.inclusionProof.hashes = [...(e.inclusionProof.hashes ?? []), b64(crypto.randomBytes(32))];
    }))));

  mustFail(`${label}: one bit flipped in the checkpoint signature`, 'TLOG_INCLUSION_PROOF_ERROR', /invalid checkpoint signature/, () =>
    strict.verify(entity(mutated(bundle, (e) => {
      const env = e.inclusionProof.checkpoint.envelope;
      const re = /^(\u2014 \S+ )(\S+)$/m;
      const m = re.exec(env);
      if (!m) throw new CheckFailed(`${label}: no signature line in the checkpoint`);
      e.inclusionProof.checkpoint.envelope = env.replace(re, `$1${flipB64(m[2])}`);
    }))));

  mustFail(`${label}: one bit flipped in the canonicalized body`, 'TLOG_INCLUSION_PROMISE_ERROR', /inclusion promise/, () =>
    strict.verify(entity(mutated(bundle, (e) => {
      e.canonicalizedBody = flipB64(e.canonicalizedBody, 20);
    }))));
  // Without the SET, the inclusion proof alone must catch the altered body...
  mustFail(`${label}: one bit flipped in the canonicalized body, SET removed`, 'TLOG_INCLUSION_PROOF_ERROR', /calculated root hash/, () =>
    noTimestamp.verify(entity(mutated(bundle, (e) => {
      noSET(e);
      e.canonicalizedBody = flipB64(e.canonicalizedBody, 20);
    }))));

  mustFail(`${label}: a TrustedRoot with another log key`, 'TLOG_INCLUSION_PROMISE_ERROR', /inclusion promise/, () =>
    foreign.verify(entity(bundle)));
  // ...and the checkpoint alone must catch the foreign key.
  mustFail(`${label}: a TrustedRoot with another log key, SET removed`, 'TLOG_INCLUSION_PROOF_ERROR', /invalid checkpoint signature/, () =>
    foreignNoTimestamp.verify(entity(mutated(bundle, noSET))));

  // Positive controls for the SET-removed cases above: proof + checkpoint alone verify, and the
  // SET alone verifies (so each negative above failed because of its one mutation).
  try {
    noTimestamp.verify(entity(mutated(bundle, noSET)));
    // (a v0.3 bundle without a proof does not pass bundleFromJSON, so built in memory)
    const [tle] = bundle.verificationMaterial.tlogEntries;
    strict.verify(entity({
      ...bundle,
      verificationMaterial: { ...bundle.verificationMaterial, tlogEntries: [{ ...tle, inclusionProof: undefined }] },
    }));
  } catch (err) {
    throw new CheckFailed(`${label}: the bundle with only the inclusion proof, or only the SET, did not verify: ${describe(err)}`);
  }
  return flipped;
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

async function main() {
  progress.step = 'library versions';
  const versions = {};
  for (const p of ['sign', 'verify', 'bundle', 'core', 'protobuf-specs']) {
    const file = new URL(`./node_modules/@sigstore/${p}/package.json`, import.meta.url);
    versions[`@sigstore/${p}`] = JSON.parse(readFileSync(file, 'utf8')).version;
  }
  const results = { client: 'sigstore-js', baseUrl: base, versions };

  // --- 1. The log's trust material ------------------------------------------------------------
  progress.step = 'trusted root';
  const rootRes = await http('GET', `${base}/api/v1/log/trustedRoot`);
  expectStatus(rootRes, 200);
  const rootJSON = expectJSON(rootRes, true);
  check(
    rootJSON.mediaType === 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    `TrustedRoot mediaType should be application/vnd.dev.sigstore.trustedroot+json;version=0.1, got ${JSON.stringify(rootJSON.mediaType)}`,
  );
  // Two instances of this log: its ECDSA key (v1: SETs and v1 checkpoints) and its Ed25519 key
  // (v2: C2SP checkpoints).
  check(Array.isArray(rootJSON.tlogs) && rootJSON.tlogs.length === 2, `TrustedRoot must list the log's two keys, got ${JSON.stringify(rootJSON.tlogs)?.slice(0, 200)}`);
  const t = rootJSON.tlogs[0];
  check(t.baseUrl === base, `TrustedRoot tlogs[0].baseUrl should be ${JSON.stringify(base)}, got ${JSON.stringify(t.baseUrl)}`);
  check(t.hashAlgorithm === 'SHA2_256', `TrustedRoot tlogs[0].hashAlgorithm should be SHA2_256, got ${JSON.stringify(t.hashAlgorithm)}`);
  check(t.publicKey?.keyDetails === 'PKIX_ECDSA_P256_SHA_256', `TrustedRoot tlogs[0].publicKey.keyDetails should be PKIX_ECDSA_P256_SHA_256, got ${JSON.stringify(t.publicKey?.keyDetails)}`);
  const logKeyDer = unb64(t.publicKey?.rawBytes, 'TrustedRoot tlogs[0].publicKey.rawBytes');
  let logKey;
  try {
    logKey = crypto.createPublicKey({ key: logKeyDer, format: 'der', type: 'spki' });
  } catch (err) {
    throw new CheckFailed(`TrustedRoot tlogs[0].publicKey.rawBytes is not an SPKI DER public key: ${err.message}`);
  }
  check(logKey.asymmetricKeyType === 'ec' && logKey.asymmetricKeyDetails?.namedCurve === 'prime256v1', `the log key should be ECDSA P-256, got ${logKey.asymmetricKeyType} ${logKey.asymmetricKeyDetails?.namedCurve}`);
  check(logKey.export({ type: 'spki', format: 'der' }).equals(logKeyDer), 'TrustedRoot rawBytes should be the canonical SPKI DER of the key');
  const validFrom = new Date(t.publicKey?.validFor?.start);
  check(typeof t.publicKey?.validFor?.start === 'string' && !Number.isNaN(validFrom.getTime()), `TrustedRoot tlogs[0].publicKey.validFor.start must be an RFC 3339 time, got ${JSON.stringify(t.publicKey?.validFor?.start)}`);
  check(validFrom.getTime() <= Date.now() + 1000, `the log key's validFor.start ${validFrom.toISOString()} is in the future`);
  const logId = unb64(t.logId?.keyId, 'TrustedRoot tlogs[0].logId.keyId');
  check(logId.equals(sha256(logKeyDer)), `TrustedRoot logId.keyId should be SHA-256(SPKI DER) = ${b64(sha256(logKeyDer))}, got ${t.logId?.keyId}`);
  if (t.checkpointKeyId !== undefined) {
    // @sigstore/verify then matches SETs and checkpoints on checkpointKeyId instead of logId.
    check(unb64(t.checkpointKeyId.keyId, 'checkpointKeyId').equals(logId), 'TrustedRoot checkpointKeyId, when present, must equal logId for a v1 log');
  }
  let trustedRoot;
  try {
    trustedRoot = TrustedRoot.fromJSON(rootJSON);
  } catch (err) {
    throw new CheckFailed(`@sigstore/protobuf-specs cannot read the TrustedRoot: ${describe(err)}`);
  }
  const log = { baseUrl: t.baseUrl, key: logKey, logId, validFrom };

  const pemRes = await http('GET', `${base}/api/v1/log/publicKey`, { headers: { Accept: 'application/x-pem-file' } });
  expectStatus(pemRes, 200);
  check(pemRes.headers.get('content-type') === 'application/x-pem-file', `GET /api/v1/log/publicKey: Content-Type should be exactly application/x-pem-file, got ${JSON.stringify(pemRes.headers.get('content-type'))}`);
  check(/^-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END PUBLIC KEY-----\n$/.test(pemRes.text), `GET /api/v1/log/publicKey: not a canonical PEM PUBLIC KEY block: ${JSON.stringify(pemRes.text.slice(0, 200))}`);
  const pemKey = crypto.createPublicKey(pemRes.text);
  check(pemKey.export({ type: 'spki', format: 'der' }).equals(logKeyDer), 'GET /api/v1/log/publicKey is not the TrustedRoot key');

  // The log info, whose checkpoint the same key signs.
  const infoRes = await http('GET', `${base}/api/v1/log`);
  expectStatus(infoRes, 200);
  const info = expectJSON(infoRes);
  check(Number.isSafeInteger(info.treeSize) && typeof info.rootHash === 'string' && HEX64.test(info.rootHash), `GET /api/v1/log: treeSize/rootHash malformed: ${infoRes.text.slice(0, 300)}`);
  check(typeof info.treeID === 'string' && /^[1-9][0-9]*$/.test(info.treeID), `GET /api/v1/log: treeID must be a decimal string, got ${JSON.stringify(info.treeID)}`);
  const infoCp = parseCheckpoint(info.signedTreeHead, 'GET /api/v1/log signedTreeHead');
  check(infoCp.size === BigInt(info.treeSize) && infoCp.root.equals(Buffer.from(info.rootHash, 'hex')), 'GET /api/v1/log: signedTreeHead size/root differ from treeSize/rootHash');
  check(infoCp.treeId === BigInt(info.treeID), `GET /api/v1/log: checkpoint origin tree ID ${infoCp.treeId} != treeID ${info.treeID}`);
  checkCheckpoint(infoCp, log, 'GET /api/v1/log signedTreeHead');
  const treeId = BigInt(info.treeID);
  const treePrefix = treeId.toString(16).padStart(16, '0');
  results.log = { logId: logId.toString('hex'), treeId: info.treeID, treeSizeAtStart: info.treeSize };

  // --- 2. A self-managed signing key and the witnesses ---------------------------------------
  progress.step = 'signer';
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signerPem = publicKey.export({ type: 'spki', format: 'pem' });
  const signerDer = publicKey.export({ type: 'spki', format: 'der' });
  const hint = `arkivo-interop-${sha256(signerDer).toString('hex').slice(0, 16)}`;
  const signer = {
    async sign(data) {
      return { signature: crypto.sign('sha256', data, privateKey), key: { $case: 'publicKey', publicKey: signerPem, hint } };
    },
  };
  // The signer key is trusted for ±CLOCK_SKEW_S around now: an integrated time outside that
  // window (e.g. milliseconds instead of seconds) fails the key's validity check in the verifier.
  const keys = {
    [hint]: {
      rawBytes: signerDer,
      validFor: { start: new Date(Date.now() - CLOCK_SKEW_S * 1000), end: new Date(Date.now() + CLOCK_SKEW_S * 1000) },
    },
  };
  const otherLogKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
  const foreignRoot = TrustedRoot.fromJSON({ ...rootJSON, tlogs: [{ ...t, publicKey: { ...t.publicKey, rawBytes: b64(otherLogKey) } }, rootJSON.tlogs[1]] });
  const verifiers = {
    strict: new Verifier(toTrustMaterial(trustedRoot, keys), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }),
    noTimestamp: new Verifier(toTrustMaterial(trustedRoot, keys), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }),
    foreign: new Verifier(toTrustMaterial(foreignRoot, keys), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }),
    foreignNoTimestamp: new Verifier(toTrustMaterial(foreignRoot, keys), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }),
  };
  // Default entry type (dsse for DSSE envelopes), Rekor v1 API, no retries.
  const witness = new RekorWitness({ rekorBaseURL: base, timeout: FETCH_TIMEOUT_MS, retry: 0 });
  let proofHashFlipped = false;

  // --- 3/4. hashedrekord: a random blob --------------------------------------------------------
  progress.step = 'hashedrekord bundle (MessageSignatureBundleBuilder + RekorWitness)';
  const blob = Buffer.concat([Buffer.from(`arkivo sigstore-js interop blob ${new Date().toISOString()} `), crypto.randomBytes(32)]);
  const msgBundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: blob });
  // (@sigstore/sign 4.x labels message-signature bundles v0.2; both need an inclusion proof)
  check([BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE].includes(msgBundle.mediaType), `hashedrekord bundle mediaType ${msgBundle.mediaType}`);
  check(msgBundle.verificationMaterial.content.$case === 'publicKey' && msgBundle.verificationMaterial.content.publicKey.hint === hint, 'hashedrekord bundle should carry the key hint');
  check(msgBundle.verificationMaterial.tlogEntries.length === 1, 'hashedrekord bundle should carry one tlog entry');
  const msgSig = msgBundle.content.messageSignature.signature;
  const msgLogged = fromTLE(msgBundle.verificationMaterial.tlogEntries[0], 'hashedrekord bundle');
  const msgInfo = checkLogged(msgLogged, log, 'hashedrekord', hashedrekordBody(sha256(blob), msgSig, signerPem), 'hashedrekord bundle');
  check(msgInfo.treeId === treeId, `hashedrekord checkpoint tree ID ${msgInfo.treeId} != log treeID ${treeId}`);
  progress.step = 'hashedrekord verification (@sigstore/verify)';
  mustVerify(verifiers.strict, msgBundle, blob, publicKey, 'hashedrekord bundle');
  mustFail('hashedrekord: another artifact', 'SIGNATURE_ERROR', /signature verification failed/, () =>
    verifiers.strict.verify(toSignedEntity(roundtrip(msgBundle), Buffer.concat([blob, Buffer.from('!')]))));
  proofHashFlipped = negativeChecks_('hashedrekord', msgBundle, blob, verifiers) || proofHashFlipped;
  results.hashedrekord = { logIndex: Number(msgLogged.logIndex), uuid: msgInfo.leaf, treeSize: msgInfo.treeSize, proofHashes: msgInfo.proofHashes };

  // --- 3/4. dsse: a random in-toto statement ---------------------------------------------------
  progress.step = 'dsse bundle (DSSEBundleBuilder + RekorWitness)';
  const subject = crypto.randomBytes(32);
  const statement = Buffer.from(JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: `artifact-${crypto.randomUUID()}`, digest: { sha256: sha256(subject).toString('hex') } }],
    predicateType: 'https://arkivo.dev/interop/sigstore-js/v1',
    predicate: { nonce: crypto.randomBytes(16).toString('hex'), at: new Date().toISOString() },
  }));
  const dsseBundle = await new DSSEBundleBuilder({ signer, witnesses: [witness] }).create({ data: statement, type: 'application/vnd.in-toto+json' });
  check(dsseBundle.content.$case === 'dsseEnvelope', 'dsse bundle content');
  const envelope = dsseBundle.content.dsseEnvelope;
  check(envelope.payloadType === 'application/vnd.in-toto+json' && envelope.signatures.length === 1, 'dsse envelope payloadType/signatures');
  const dsseLogged = fromTLE(dsseBundle.verificationMaterial.tlogEntries[0], 'dsse bundle');
  const envelopeString = JSON.stringify(envelopeToJSON(envelope)); // exactly what RekorWitness sent
  const dsseInfo = checkLogged(dsseLogged, log, 'dsse', dsseBody(envelopeString, statement, envelope.signatures[0].sig, signerPem), 'dsse bundle');
  check(dsseLogged.logIndex > msgLogged.logIndex, `dsse logIndex ${dsseLogged.logIndex} should follow hashedrekord logIndex ${msgLogged.logIndex}`);
  check(dsseLogged.integratedTime >= msgLogged.integratedTime, 'integratedTime should not go backwards');
  progress.step = 'dsse verification (@sigstore/verify)';
  mustVerify(verifiers.strict, dsseBundle, undefined, publicKey, 'dsse bundle');
  mustFail('dsse: one bit flipped in the payload', 'TLOG_BODY_ERROR', /payload hash mismatch/, () =>
    verifiers.strict.verify(toSignedEntity(mutated(dsseBundle, (_e, json) => {
      json.dsseEnvelope.payload = flipB64(json.dsseEnvelope.payload, 10);
    }))));
  proofHashFlipped = negativeChecks_('dsse', dsseBundle, undefined, verifiers) || proofHashFlipped;
  results.dsse = { logIndex: Number(dsseLogged.logIndex), uuid: dsseInfo.leaf, treeSize: dsseInfo.treeSize, proofHashes: dsseInfo.proofHashes };

  // --- 5. The same hashedrekord again, through RekorWitness with fetchOnConflict --------------
  // 409 -> Location -> GET /api/v1/log/entries/{id}: the logged entry with a proof against the
  // current (larger) tree, which must verify too.
  progress.step = 'duplicate via RekorWitness fetchOnConflict (409 + GET by entry ID)';
  const conflictWitness = new RekorWitness({ rekorBaseURL: base, timeout: FETCH_TIMEOUT_MS, retry: 0, fetchOnConflict: true });
  const again = await conflictWitness.testify(msgBundle.content, signerPem);
  check(again?.tlogEntries?.length === 1, 'fetchOnConflict should return one tlog entry');
  const refetched = fromTLE(again.tlogEntries[0], 'refetched hashedrekord');
  check(refetched.logIndex === msgLogged.logIndex, `refetched logIndex ${refetched.logIndex} != ${msgLogged.logIndex}`);
  check(refetched.body.equals(msgLogged.body), 'refetched body differs from the logged body');
  check(refetched.integratedTime === msgLogged.integratedTime, 'refetched integratedTime differs');
  const refInfo = checkLogged(refetched, log, 'hashedrekord', hashedrekordBody(sha256(blob), msgSig, signerPem), 'refetched hashedrekord');
  check(refInfo.treeSize > msgInfo.treeSize || refInfo.treeSize >= Number(dsseLogged.logIndex) + 1, `refetched proof should be against the current tree (size ${refInfo.treeSize})`);
  const refBundle = { ...msgBundle, verificationMaterial: { ...msgBundle.verificationMaterial, tlogEntries: again.tlogEntries } };
  mustVerify(verifiers.strict, refBundle, blob, publicKey, 'refetched hashedrekord bundle');
  proofHashFlipped = negativeChecks_('refetched hashedrekord', refBundle, blob, verifiers) || proofHashFlipped;
  check(proofHashFlipped, 'no verified bundle had a non-empty inclusion proof, so no proof hash could be flipped');
  results.refetched = { logIndex: Number(refetched.logIndex), treeSize: refInfo.treeSize, proofHashes: refInfo.proofHashes };

  // --- 6. Raw v1 API: 201 then 409 for the same proposed entry --------------------------------
  progress.step = 'raw POST /api/v1/log/entries (201)';
  const blob2 = Buffer.concat([Buffer.from('arkivo sigstore-js raw blob '), crypto.randomBytes(32)]);
  const digest2 = sha256(blob2);
  const sig2 = crypto.sign('sha256', blob2, privateKey);
  const proposed = {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: digest2.toString('hex') } },
      signature: { content: b64(sig2), publicKey: { content: b64(signerPem) } },
    },
  };
  const created = await http('POST', `${base}/api/v1/log/entries`, { body: proposed });
  expectStatus(created, 201);
  const createdMap = expectJSON(created);
  const etag = created.headers.get('etag');
  check(typeof etag === 'string' && HEX80.test(etag), `201: ETag should be the bare 80-hex entry ID (no quotes), got ${JSON.stringify(etag)}`);
  check(etag.startsWith(treePrefix), `201: entry ID ${etag} should start with the 16-hex tree ID ${treePrefix}`);
  const createdLocation = created.headers.get('location');
  check(typeof createdLocation === 'string' && createdLocation.endsWith(`/${etag}`), `201: Location should end in /${etag}, got ${JSON.stringify(createdLocation)}`);
  check(new URL(createdLocation, base).pathname === `/api/v1/log/entries/${etag}`, `201: Location should be /api/v1/log/entries/${etag}, got ${JSON.stringify(createdLocation)}`);
  const [createdId, rawLogged] = fromLogEntryMap(createdMap, '201 body');
  check(createdId === etag, `201: the body's entry ID ${createdId} != ETag ${etag}`);
  check(created.text.startsWith(`{"${etag}":{`) && created.text.endsWith('}}\n'), '201: the body should be compact JSON `{"<id>":{...}}` plus one newline');
  const rawInfo = checkLogged(rawLogged, log, 'hashedrekord', hashedrekordBody(digest2, sig2, signerPem), '201 body');
  check(etag.slice(16) === rawInfo.leaf, `201: entry ID ${etag} should end in SHA-256(0x00||body) = ${rawInfo.leaf}`);
  check(rawLogged.logIndex > dsseLogged.logIndex, `201: logIndex ${rawLogged.logIndex} should follow ${dsseLogged.logIndex}`);
  // The raw response, packed into a bundle as a client would, verifies with @sigstore/verify.
  const rawBundle = bundleFromJSON({
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [tleJSONFromLogEntry(rawLogged)], timestampVerificationData: { rfc3161Timestamps: [] } },
    messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: b64(digest2) }, signature: b64(sig2) },
  });
  mustVerify(verifiers.strict, rawBundle, blob2, publicKey, 'bundle built from the 201 response');

  progress.step = 'raw POST /api/v1/log/entries again (409)';
  const dup = await http('POST', `${base}/api/v1/log/entries`, { body: proposed });
  expectStatus(dup, 409);
  const dupLocation = dup.headers.get('location');
  check(typeof dupLocation === 'string' && dupLocation.endsWith(`/${etag}`), `409: Location should end in the same entry ID /${etag}, got ${JSON.stringify(dupLocation)}`);
  const dupBody = expectJSON(dup);
  check(dupBody.code === 409 && typeof dupBody.message === 'string' && dupBody.message.includes(etag), `409: body should be {"code":409,"message":"... <entry ID>"}, got ${dup.text.slice(0, 300)}`);

  progress.step = 'GET the entry by Location and by index';
  const fetchedBy = {};
  for (const [how, url] of [
    ['Location', new URL(dupLocation, `${base}/`).href],
    ['logIndex', `${base}/api/v1/log/entries?logIndex=${rawLogged.logIndex}`],
  ]) {
    const res = await http('GET', url);
    expectStatus(res, 200);
    const [id, n] = fromLogEntryMap(expectJSON(res), `GET by ${how} ${url}`);
    check(id === etag, `GET by ${how}: entry ID ${id} != ${etag}`);
    check(n.body.equals(rawLogged.body), `GET by ${how}: body differs from the 201 body`);
    check(n.logIndex === rawLogged.logIndex && n.integratedTime === rawLogged.integratedTime, `GET by ${how}: logIndex/integratedTime differ from the 201 response`);
    const info2 = checkLogged(n, log, 'hashedrekord', hashedrekordBody(digest2, sig2, signerPem), `GET by ${how}`);
    check(id.slice(16) === info2.leaf, `GET by ${how}: SHA-256(0x00||body) ${info2.leaf} != last 64 hex of the entry ID ${id}`);
    fetchedBy[how] = { treeSize: info2.treeSize };
  }
  results.raw = { logIndex: Number(rawLogged.logIndex), entryId: etag, created: created.status, duplicate: dup.status, fetched: fetchedBy };

  // --- 7. intoto 0.0.2 through RekorWitness (what `sigstore attest` writes) ------------------
  progress.step = "intoto bundle (DSSEBundleBuilder + RekorWitness entryType 'intoto')";
  const intotoWitness = new RekorWitness({ rekorBaseURL: base, entryType: 'intoto', timeout: FETCH_TIMEOUT_MS, retry: 0 });
  const intotoStatement = Buffer.from(JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'intoto-artifact', digest: { sha256: sha256(crypto.randomBytes(32)).toString('hex') } }],
    predicateType: 'https://arkivo.dev/interop/sigstore-js/v1',
    predicate: { nonce: crypto.randomUUID() },
  }));
  const intotoBundle = await new DSSEBundleBuilder({ signer, witnesses: [intotoWitness] }).create({ data: intotoStatement, type: 'application/vnd.in-toto+json' });
  const intotoEnvelope = intotoBundle.content.dsseEnvelope;
  const intotoLogged = fromTLE(intotoBundle.verificationMaterial.tlogEntries[0], 'intoto bundle');
  checkLogged(intotoLogged, log, 'intoto', (body, what) => {
    const c = body.spec?.content;
    const payloadHash = sha256(intotoStatement).toString('hex');
    check(c?.payloadHash?.algorithm === 'sha256' && c.payloadHash.value === payloadHash, `${what}: spec.content.payloadHash should be sha256 ${payloadHash}, got ${JSON.stringify(c?.payloadHash)}`);
    check(c?.hash?.algorithm === 'sha256' && /^[0-9a-f]{64}$/.test(c.hash.value), `${what}: spec.content.hash should be the client's sha256, got ${JSON.stringify(c?.hash)}`);
    check(c.envelope?.payload === undefined, `${what}: the payload must not be stored`);
    check(c.envelope.payloadType === 'application/vnd.in-toto+json', `${what}: payloadType`);
    const sigs = c.envelope.signatures;
    check(Array.isArray(sigs) && sigs.length === 1, `${what}: one signature`);
    check(sigs[0].sig === b64(Buffer.from(b64(intotoEnvelope.signatures[0].sig))), `${what}: sig should be base64 of the envelope's base64 signature`);
    check(sigs[0].publicKey === b64(signerPem), `${what}: publicKey should be base64 of the signer's PEM as sent`);
  }, 'intoto bundle', '0.0.2');
  check(intotoLogged.logIndex > dsseLogged.logIndex, `intoto logIndex ${intotoLogged.logIndex} should follow the dsse one`);
  progress.step = 'intoto verification (@sigstore/verify)';
  mustVerify(verifiers.strict, intotoBundle, undefined, publicKey, 'intoto bundle');
  mustFail('intoto: one bit flipped in the payload', 'TLOG_BODY_ERROR', /payload hash mismatch/, () =>
    verifiers.strict.verify(toSignedEntity(mutated(intotoBundle, (_e, json) => {
      json.dsseEnvelope.payload = flipB64(json.dsseEnvelope.payload, 10);
    }))));
  results.intoto = { logIndex: Number(intotoLogged.logIndex), kind: intotoLogged.kindVersion.kind, version: intotoLogged.kindVersion.version };

  // --- 8. Rekor v2: RekorWitness with majorApiVersion 2, interleaved with v1 -----------------
  progress.step = 'Rekor v2 TrustedRoot instance';
  const t2 = rootJSON.tlogs[1];
  check(t2.baseUrl === base && t2.hashAlgorithm === 'SHA2_256' && t2.publicKey?.keyDetails === 'PKIX_ED25519', `TrustedRoot tlogs[1] should be the Ed25519 checkpoint key at ${base}, got ${JSON.stringify(t2).slice(0, 300)}`);
  const logKeyV2 = crypto.createPublicKey({ key: unb64(t2.publicKey.rawBytes, 'tlogs[1] rawBytes'), format: 'der', type: 'spki' });
  check(logKeyV2.asymmetricKeyType === 'ed25519', `tlogs[1] should hold an Ed25519 key, got ${logKeyV2.asymmetricKeyType}`);
  const origin = new URL(base).host;
  const rawKey = logKeyV2.export({ format: 'der', type: 'spki' }).subarray(12);
  const keyHash = sha256(Buffer.from(`${origin}\n`), Buffer.from([0x01]), rawKey);
  const logIdV2 = unb64(t2.logId?.keyId, 'tlogs[1] logId');
  check(logIdV2.equals(keyHash), `tlogs[1] logId should be SHA-256(origin || 0x0A || 0x01 || key) = ${b64(keyHash)}, got ${t2.logId?.keyId}`);
  check(unb64(t2.checkpointKeyId?.keyId, 'tlogs[1] checkpointKeyId').equals(keyHash), 'tlogs[1] checkpointKeyId should equal its logId');
  const logV2 = { baseUrl: t2.baseUrl, key: logKeyV2, logId: logIdV2 };
  // Rekor v2 gives no time: the bundles are verified without a timestamp, as a v2 client
  // without a TSA does.
  const verifierV2 = new Verifier(toTrustMaterial(trustedRoot, keys), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 });
  const otherEd = crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  const foreignV2 = new Verifier(
    toTrustMaterial(TrustedRoot.fromJSON({ ...rootJSON, tlogs: [t, { ...t2, publicKey: { ...t2.publicKey, rawBytes: b64(otherEd) } }] }), keys),
    { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 },
  );
  const witnessV2 = new RekorWitness({ rekorBaseURL: base, majorApiVersion: 2, timeout: FETCH_TIMEOUT_MS, retry: 0 });
  const signerSpki = b64(signerDer);
  // @sigstore/sign sends the key as an "x509Certificate"; the log records it as the key it is.
  const expectVerifier = (v, what) =>
    check(v?.publicKey?.rawBytes === signerSpki && v.keyDetails === 'PKIX_ECDSA_P256_SHA_256' && v.x509Certificate === undefined, `${what}: the verifier should be the signer's key as publicKey, got ${JSON.stringify(v)}`);
  const mustFailV2 = (label, bundle, artifact) => {
    mustFail(`${label}: one bit flipped in a proof hash`, 'TLOG_INCLUSION_PROOF_ERROR', /calculated root hash/, () =>
      verifierV2.verify(toSignedEntity(mutated(bundle, (e) => {
        e.inclusionProof.hashes[0] = flipB64(e.inclusionProof.hashes[0], 7);
      }), artifact)));
    mustFail(`${label}: one bit flipped in the checkpoint signature`, 'TLOG_INCLUSION_PROOF_ERROR', /invalid checkpoint signature/, () =>
      verifierV2.verify(toSignedEntity(mutated(bundle, (e) => {
        const env = e.inclusionProof.checkpoint.envelope;
        const re = /^(\u2014 \S+ )(\S+)$/m;
        e.inclusionProof.checkpoint.envelope = env.replace(re, (_m, name, sig) => `${name}${flipB64(sig)}`);
      }), artifact)));
    mustFail(`${label}: one bit flipped in the canonicalized body`, 'TLOG_INCLUSION_PROOF_ERROR', /calculated root hash/, () =>
      verifierV2.verify(toSignedEntity(mutated(bundle, (e) => {
        e.canonicalizedBody = flipB64(e.canonicalizedBody, 20);
      }), artifact)));
    mustFail(`${label}: a TrustedRoot with another checkpoint key`, 'TLOG_INCLUSION_PROOF_ERROR', /invalid checkpoint signature/, () =>
      foreignV2.verify(toSignedEntity(roundtrip(bundle), artifact)));
  };

  progress.step = 'Rekor v2 hashedrekord bundle (MessageSignatureBundleBuilder + RekorWitness majorApiVersion 2)';
  const blobV2 = Buffer.concat([Buffer.from('arkivo sigstore-js v2 blob '), crypto.randomBytes(32)]);
  const v2Bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witnessV2] }).create({ data: blobV2 });
  const v2Sig = v2Bundle.content.messageSignature.signature;
  const v2Info = checkLoggedV2(v2Bundle.verificationMaterial.tlogEntries[0], logV2, 'hashedrekord', (spec, what) => {
    const hr = spec?.hashedRekordV002;
    check(hr?.data?.algorithm === 'SHA2_256' && hr.data.digest === b64(sha256(blobV2)), `${what}: data should be SHA2_256 of the blob, got ${JSON.stringify(hr?.data)}`);
    check(hr.signature?.content === b64(v2Sig), `${what}: signature.content is not the bundle's signature`);
    expectVerifier(hr.signature.verifier, what);
  }, 'v2 hashedrekord bundle');
  check(v2Info.logIndex === 4, `the first v2 entry should follow the four v1 entries at index 4, got ${v2Info.logIndex}`);
  mustVerify(verifierV2, v2Bundle, blobV2, publicKey, 'v2 hashedrekord bundle');
  mustFail('v2 hashedrekord: another artifact', 'SIGNATURE_ERROR', /signature verification failed/, () =>
    verifierV2.verify(toSignedEntity(roundtrip(v2Bundle), Buffer.concat([blobV2, Buffer.from('!')]))));

  progress.step = 'a v1 entry between the v2 entries';
  const blobMid = Buffer.concat([Buffer.from('arkivo sigstore-js v1 between v2 '), crypto.randomBytes(32)]);
  const midBundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: blobMid });
  const midLogged = fromTLE(midBundle.verificationMaterial.tlogEntries[0], 'v1 bundle between v2 entries');
  checkLogged(midLogged, log, 'hashedrekord', hashedrekordBody(sha256(blobMid), midBundle.content.messageSignature.signature, signerPem), 'v1 bundle between v2 entries');
  check(midLogged.logIndex === 5n, `the v1 entry between should be at index 5, got ${midLogged.logIndex}`);
  mustVerify(verifiers.strict, midBundle, blobMid, publicKey, 'v1 bundle between v2 entries');

  progress.step = 'Rekor v2 dsse bundle (DSSEBundleBuilder + RekorWitness majorApiVersion 2)';
  const statementV2 = Buffer.from(JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: `v2-artifact-${crypto.randomUUID()}`, digest: { sha256: sha256(crypto.randomBytes(8)).toString('hex') } }],
    predicateType: 'https://arkivo.dev/interop/sigstore-js/v2',
    predicate: {},
  }));
  const v2Dsse = await new DSSEBundleBuilder({ signer, witnesses: [witnessV2] }).create({ data: statementV2, type: 'application/vnd.in-toto+json' });
  const v2Envelope = v2Dsse.content.dsseEnvelope;
  const v2DsseInfo = checkLoggedV2(v2Dsse.verificationMaterial.tlogEntries[0], logV2, 'dsse', (spec, what) => {
    const d = spec?.dsseV002;
    check(d?.payloadHash?.algorithm === 'SHA2_256' && d.payloadHash.digest === b64(sha256(statementV2)), `${what}: payloadHash should be SHA2_256 of the statement, got ${JSON.stringify(d?.payloadHash)}`);
    check(Array.isArray(d.signatures) && d.signatures.length === 1 && d.signatures[0].content === b64(v2Envelope.signatures[0].sig), `${what}: signatures should hold the envelope's one signature`);
    expectVerifier(d.signatures[0].verifier, what);
  }, 'v2 dsse bundle');
  check(v2DsseInfo.logIndex === 6, `the v2 dsse entry should be at index 6, got ${v2DsseInfo.logIndex}`);
  mustVerify(verifierV2, v2Dsse, undefined, publicKey, 'v2 dsse bundle');

  progress.step = 'Rekor v2 tampering';
  mustFailV2('v2 hashedrekord', v2Bundle, blobV2);
  mustFailV2('v2 dsse', v2Dsse, undefined);
  // Earlier bundles still verify against the grown tree's keys.
  mustVerify(verifiers.strict, msgBundle, blob, publicKey, 'the first v1 bundle, after v2 entries');

  progress.step = 'raw POST /api/v2/log/entries: duplicate and malformed';
  const sameRequest = {
    hashedRekordRequestV002: {
      digest: b64(sha256(blobV2)),
      signature: { content: b64(v2Sig), verifier: { x509Certificate: { rawBytes: signerSpki }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } },
    },
  };
  const dupV2 = await http('POST', `${base}/api/v2/log/entries`, { body: sameRequest });
  expectStatus(dupV2, 409);
  check(dupV2.headers.get('x-log-index') === '4', `v2 409: x-log-index should be 4, got ${JSON.stringify(dupV2.headers.get('x-log-index'))}`);
  check(typeof expectJSON(dupV2).message === 'string', 'v2 409: the body should be JSON with a message');
  const malformed = [
    [{ hashedRekordRequestV002: { ...sameRequest.hashedRekordRequestV002, digest: b64(sha256(Buffer.from('other'))) } }, /verifying signature/],
    [{ hashedRekordRequestV002: { digest: b64(sha256(blobV2)) } }, /missing signature/],
    [{ hashedRekordRequestV002: sameRequest.hashedRekordRequestV002, extra: 1 }, /unknown field/],
  ];
  const refusals = [];
  for (const [body, pattern] of malformed) {
    const res = await http('POST', `${base}/api/v2/log/entries`, { body });
    expectStatus(res, 400);
    const msg = expectJSON(res).message;
    check(pattern.test(msg), `v2 400: message ${JSON.stringify(msg)} should match ${pattern}`);
    refusals.push(msg);
  }
  results.v2 = { hashedrekord: v2Info, v1Between: Number(midLogged.logIndex), dsse: v2DsseInfo, duplicate: dupV2.status, refusals };

  results.negativeChecks = progress.negativeChecks;
  results.checks = progress.checks;
  results.ok = true;
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().then(() => process.exit(0), die);
