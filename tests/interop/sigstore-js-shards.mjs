// The official Sigstore JavaScript libraries before and after shard rotations (rekor-v1-api.md
// §2, §9): bundles made in every shard of a rotated log must verify with the one trusted root
// the log serves after the rotations. Driven by tests/interop_sigstore_js.rs, which rotates the
// log (`arkivo shard rotate`) between the runs:
//
//   node sigstore-js-shards.mjs sign <baseUrl> <workDir> <label>
//     In the active shard: a hashedrekord and a DSSE bundle through RekorWitness (Rekor v1 API),
//     a raw v1 entry, and a hashedrekord and a DSSE bundle with majorApiVersion 2. Each entry is
//     checked against the log as it is now (virtual index = entries of the frozen shards before
//     + index in the shard, checkpoint and log ID of the active shard; for v2 the index in the
//     shard and the shard's C2SP checkpoint) and its bundle verified by @sigstore/verify with the
//     trusted root served now; the v2 request again is a 409 naming the index in the shard. After
//     a rotation, the first run's raw v1 entry and v2 hashedrekord request are submitted again:
//     frozen, they are logged again in the active shard (201; the v1 one again: 409), and the
//     first run's v2 bundle with the new entry verifies. Bundles, the signer key and the trusted
//     root are kept in <workDir>/state.json.
//
//   node sigstore-js-shards.mjs verify <baseUrl> <workDir>
//     Checks the shards (GET /api/v1/log, publicKey?treeID=, each shard's C2SP checkpoint at its
//     trusted-root baseUrl) and the trusted root (an ECDSA instance per key, an Ed25519 instance
//     per shard, validity periods without gaps covering each key's entries), verifies every bundle of every
//     run with @sigstore/verify against the trusted root fetched now, reads every entry back by
//     virtual index and by entry ID, and makes sure that tampered bundles and tampered trust
//     (wrong index, another shard's checkpoint, the pre-rotation root, shifted validity, another
//     shard's baseUrl) fail.
//
// Prints one JSON line of results on stdout; exits 1 naming the first failed check on stderr (2
// for a usage error).

import crypto from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TransparencyLogEntry, TrustedRoot } from '@sigstore/protobuf-specs';
import {
  CheckFailed, b64, check, describe, failOnErrors, flipB64, leafHash, mustFail, progress, sha256, verifies,
} from './checks.mjs';

const FETCH_TIMEOUT_MS = 30_000;
const OVERALL_TIMEOUT_MS = 120_000;
const SIGNER_VALIDITY_S = 3600; // the signer key is trusted for ±1 h around now

const die = failOnErrors('sigstore-js shards interop', OVERALL_TIMEOUT_MS);

const USAGE = 'usage: node sigstore-js-shards.mjs sign <baseUrl> <workDir> <label>\n' +
  '       node sigstore-js-shards.mjs verify <baseUrl> <workDir>\n';
const [command, baseArg, workDir, label] = process.argv.slice(2);
if (!(command === 'sign' && process.argv.length === 6) && !(command === 'verify' && process.argv.length === 5)) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, '');
const host = new URL(base).host;
const statePath = path.join(workDir, 'state.json');

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// int64 fields in protobuf JSON: strings, and absent when 0.
const int64 = (s) => BigInt(s ?? 0);
const treePrefix = (treeId) => BigInt(treeId).toString(16).padStart(16, '0');

async function http(method, url, { body, accept = 'application/json' } = {}) {
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: { Accept: accept, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (err) {
    throw new CheckFailed(`${method} ${url}: request failed: ${describe(err)}`);
  }
  return { status: res.status, headers: res.headers, text: await res.text(), url, method };
}

async function getJSON(url) {
  const res = await http('GET', url);
  check(res.status === 200, `GET ${url}: expected 200, got ${res.status}: ${res.text.slice(0, 300)}`);
  return JSON.parse(res.text);
}

// A signed note: its signed text, origin, size, root and signature lines.
function parseNote(text, what) {
  check(typeof text === 'string' && text.includes('\n\n'), `${what}: not a signed note: ${JSON.stringify(text)}`);
  const split = text.indexOf('\n\n');
  const note = text.slice(0, split + 1);
  const [origin, size, root] = note.slice(0, -1).split('\n');
  const sigs = [...text.slice(split + 2).matchAll(/^\u2014 (\S+) (\S+)$/gm)].map((m) => {
    const blob = Buffer.from(m[2], 'base64');
    return { name: m[1], hint: blob.subarray(0, 4), signature: blob.subarray(4) };
  });
  check(sigs.length === 1, `${what}: expected one signature line, got ${sigs.length}`);
  return { note, origin, size: BigInt(size), root: Buffer.from(root, 'base64'), sig: sigs[0] };
}

// Checks a note's signature with `key` (ECDSA P-256 over SHA-256, or Ed25519), its signer name
// and its key hint.
function checkNote(cp, { key, name, hint }, what) {
  check(cp.sig.name === name, `${what}: signature name ${JSON.stringify(cp.sig.name)} should be ${JSON.stringify(name)}`);
  check(cp.sig.hint.equals(hint.subarray(0, 4)), `${what}: key hint ${cp.sig.hint.toString('hex')} should be ${hint.subarray(0, 4).toString('hex')}`);
  const digest = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  check(crypto.verify(digest, Buffer.from(cp.note), key, cp.sig.signature), `${what}: the signature does not verify over ${JSON.stringify(cp.note)}`);
}

// The C2SP checkpoint origin of the shard at `position` (0 = the log's first shard), and the key
// ID an Ed25519 key has under it: SHA-256(origin || "\n" || 0x01 || raw key).
const c2spOrigin = (position, treeId) => (position === 0 ? host : `${host}/shards/${treeId}`);
const c2spKeyId = (origin, key) =>
  sha256(Buffer.from(`${origin}\n`), Buffer.from([0x01]), key.export({ format: 'der', type: 'spki' }).subarray(12));

// ---------------------------------------------------------------------------------------------
// The log's shards as the v1 API describes them
// ---------------------------------------------------------------------------------------------

// GET /api/v1/log, and per shard (oldest first) its ECDSA key from publicKey?treeID=, its log ID,
// its virtual-index offset and its signed tree head verified with that key.
async function readShards() {
  const info = await getJSON(`${base}/api/v1/log`);
  const inactive = info.inactiveShards ?? [];
  check(info.inactiveShards === null || inactive.length > 0, 'inactiveShards should be null (not []) for a log never rotated');
  const listed = [...inactive, { treeID: info.treeID, treeSize: info.treeSize, rootHash: info.rootHash, signedTreeHead: info.signedTreeHead }];
  const shards = [];
  let offset = 0;
  for (const [position, s] of listed.entries()) {
    check(/^[1-9][0-9]*$/.test(s.treeID), `shard ${position}: treeID must be decimal, got ${JSON.stringify(s.treeID)}`);
    const pem = await http('GET', `${base}/api/v1/log/publicKey?treeID=${s.treeID}`, { accept: 'application/x-pem-file' });
    check(pem.status === 200, `publicKey?treeID=${s.treeID}: HTTP ${pem.status}: ${pem.text.slice(0, 200)}`);
    const key = crypto.createPublicKey(pem.text);
    const der = key.export({ type: 'spki', format: 'der' });
    const cp = parseNote(s.signedTreeHead, `shard ${s.treeID} signedTreeHead`);
    check(cp.origin === `${host} - ${s.treeID}`, `shard ${s.treeID}: checkpoint origin ${JSON.stringify(cp.origin)} should be "${host} - ${s.treeID}"`);
    check(cp.size === BigInt(s.treeSize) && cp.root.toString('hex') === s.rootHash, `shard ${s.treeID}: signedTreeHead does not match treeSize/rootHash`);
    checkNote(cp, { key, name: host, hint: sha256(der) }, `shard ${s.treeID} signedTreeHead (key from publicKey?treeID=${s.treeID})`);
    shards.push({ position, treeId: s.treeID, size: s.treeSize, offset, key, der, logId: sha256(der), checkpoint: s.signedTreeHead, active: position === listed.length - 1 });
    offset += s.treeSize;
  }
  const plain = await http('GET', `${base}/api/v1/log/publicKey`, { accept: 'application/x-pem-file' });
  check(crypto.createPublicKey(plain.text).export({ type: 'spki', format: 'der' }).equals(shards.at(-1).der), 'publicKey without treeID should be the active shard\'s key');
  return { shards, active: shards.at(-1), total: offset };
}

const shardOf = (log, treeId, what) => {
  const s = log.shards.find((x) => x.treeId === String(treeId));
  check(s !== undefined, `${what}: tree ${treeId} is not a shard of the log`);
  return s;
};

// ---------------------------------------------------------------------------------------------
// Entries in bundles
// ---------------------------------------------------------------------------------------------

// A v1 TransparencyLogEntry (protobuf JSON, as in a bundle file) checked against its shard: the
// checkpoint's origin names the shard, the top-level index is virtual and the proof's is in the
// shard, the log ID and the checkpoint key are the shard's.
function checkTLEv1(tle, log, what) {
  const cp = parseNote(tle.inclusionProof.checkpoint.envelope, `${what}: checkpoint`);
  const m = /^(\S+) - ([0-9]+)$/.exec(cp.origin);
  check(m !== null && m[1] === host, `${what}: checkpoint origin ${JSON.stringify(cp.origin)} should be "${host} - <tree ID>"`);
  const shard = shardOf(log, m[2], what);
  const index = int64(tle.inclusionProof.logIndex);
  check(int64(tle.logIndex) === BigInt(shard.offset) + index, `${what}: logIndex ${int64(tle.logIndex)} should be the virtual index ${shard.offset} (entries before tree ${shard.treeId}) + ${index} (inclusionProof.logIndex)`);
  check(Buffer.from(tle.logId.keyId, 'base64').equals(shard.logId), `${what}: logId should be tree ${shard.treeId}'s log ID ${b64(shard.logId)}, got ${tle.logId.keyId}`);
  checkNote(cp, { key: shard.key, name: host, hint: shard.logId }, `${what}: checkpoint`);
  return { shard, index: Number(index), logIndex: Number(int64(tle.logIndex)) };
}

// A v2 TransparencyLogEntry checked against the active shard (at signing): per-shard index, the
// C2SP checkpoint of the shard's origin, signed by the key the trusted root lists for it.
function checkTLEv2(tle, shard, ed25519, what) {
  const cp = parseNote(tle.inclusionProof.checkpoint.envelope, `${what}: checkpoint`);
  const origin = c2spOrigin(shard.position, shard.treeId);
  check(cp.origin === origin, `${what}: C2SP checkpoint origin ${JSON.stringify(cp.origin)} should be ${JSON.stringify(origin)}`);
  const index = int64(tle.inclusionProof.logIndex);
  check(int64(tle.logIndex) === index, `${what}: a Rekor v2 logIndex (${int64(tle.logIndex)}) is the index in the shard, inclusionProof.logIndex ${index}`);
  check(int64(tle.integratedTime) === 0n && tle.inclusionPromise === undefined, `${what}: Rekor v2 asserts no time and signs no SET`);
  check(Buffer.from(tle.logId.keyId, 'base64').equals(ed25519.keyId), `${what}: logId should be the shard's C2SP key ID ${b64(ed25519.keyId)}`);
  checkNote(cp, { key: ed25519.key, name: origin, hint: ed25519.keyId }, `${what}: checkpoint`);
  return { index: Number(index), logIndex: shard.offset + Number(index) };
}

// The trusted root's Ed25519 instance for a shard (by the C2SP key ID under its origin).
function ed25519Of(rootJSON, shard, what) {
  const origin = c2spOrigin(shard.position, shard.treeId);
  for (const t of rootJSON.tlogs) {
    if (t.publicKey?.keyDetails !== 'PKIX_ED25519') continue;
    const key = crypto.createPublicKey({ key: Buffer.from(t.publicKey.rawBytes, 'base64'), format: 'der', type: 'spki' });
    const keyId = c2spKeyId(origin, key);
    if (Buffer.from(t.checkpointKeyId?.keyId ?? '', 'base64').equals(keyId)) return { t, key, keyId, origin };
  }
  throw new CheckFailed(`${what}: the trusted root has no Ed25519 instance whose checkpointKeyId is the key ID under origin ${origin}`);
}

// ---------------------------------------------------------------------------------------------
// Verification with @sigstore/verify
// ---------------------------------------------------------------------------------------------

function verifiers(rootJSON, signer) {
  const keys = {
    [signer.hint]: {
      rawBytes: Buffer.from(signer.spki, 'base64'),
      validFor: { start: new Date(Date.now() - SIGNER_VALIDITY_S * 1000), end: new Date(Date.now() + SIGNER_VALIDITY_S * 1000) },
    },
  };
  const material = toTrustMaterial(TrustedRoot.fromJSON(rootJSON), keys);
  return {
    // v1: the SET's integrated time is the timestamp; v2 asserts none.
    1: new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }),
    2: new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }),
  };
}

const entity = (bundleJSON, artifact) => toSignedEntity(bundleFromJSON(bundleJSON), artifact);

function mustVerify(v, e, what) {
  verifies(what, () => v[e.api].verify(entity(e.bundle, e.artifact)));
}

// `bundle` (e's, or a tampered copy) must fail to verify with this code and message.
function rejects(v, e, bundle, code, pattern, what) {
  mustFail(what, code, pattern, () => v[e.api].verify(entity(bundle, e.artifact)));
}

const edited = (bundle, edit) => {
  const copy = structuredClone(bundle);
  edit(copy.verificationMaterial.tlogEntries[0]);
  return copy;
};

// ---------------------------------------------------------------------------------------------
// sign
// ---------------------------------------------------------------------------------------------

function loadState() {
  return existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : { runs: [], entries: [] };
}

function newSigner() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }),
    spki: b64(spki),
    hint: `arkivo-shards-${sha256(spki).toString('hex').slice(0, 16)}`,
  };
}

function proposedHashedrekord(signer, privateKey, blob) {
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: sha256(blob).toString('hex') } },
      signature: { content: b64(crypto.sign('sha256', blob, privateKey)), publicKey: { content: b64(signer.publicPem) } },
    },
  };
}

async function sign() {
  const state = loadState();
  check(!state.runs.some((r) => r.label === label), `label ${label} was used already`);
  state.signer ??= newSigner();
  const signer = state.signer;
  const privateKey = crypto.createPrivateKey(signer.privatePem);
  const keyPair = {
    async sign(data) {
      return { signature: crypto.sign('sha256', data, privateKey), key: { $case: 'publicKey', publicKey: signer.publicPem, hint: signer.hint } };
    },
  };

  progress.step = `${label}: the log now`;
  const log = await readShards();
  const shard = log.active;
  const rootJSON = await getJSON(`${base}/api/v1/log/trustedRoot`);
  const ed25519 = ed25519Of(rootJSON, shard, 'trusted root');
  const v = verifiers(rootJSON, signer);
  const run = { label, treeId: shard.treeId, position: shard.position, offset: shard.offset, sizeAtStart: shard.size, root: rootJSON, entries: [] };
  let next = shard.size; // the next index in the active shard

  // A bundle (in memory, or as JSON) whose entry was just logged in the active shard.
  const record = async (name, api, bundle, artifact) => {
    const json = 'content' in bundle ? bundleToJSON(bundle) : bundle;
    const tle = json.verificationMaterial.tlogEntries[0];
    const what = `${label} ${name}`;
    const got = api === 1 ? checkTLEv1(tle, log, what) : checkTLEv2(tle, shard, ed25519, what);
    check(api === 2 || got.shard === shard, `${what}: logged in tree ${got.shard?.treeId}, not in the active tree ${shard.treeId}`);
    check(got.index === next, `${what}: should be entry ${next} of tree ${shard.treeId}, got ${got.index}`);
    next++;
    const e = { label, name, api, bundle: json, artifact: artifact && b64(artifact), treeId: shard.treeId, index: got.index, logIndex: got.logIndex };
    mustVerify(v, { ...e, artifact }, `${what}, with the trusted root served at signing`);
    run.entries.push({ name, api, index: got.index, logIndex: got.logIndex });
    state.entries.push(e);
  };

  progress.step = `${label}: Rekor v1 hashedrekord and dsse (RekorWitness)`;
  const witness = new RekorWitness({ rekorBaseURL: base, timeout: FETCH_TIMEOUT_MS, retry: 0 });
  const blob = Buffer.concat([Buffer.from(`arkivo shards ${label} `), crypto.randomBytes(32)]);
  await record('v1 hashedrekord', 1, await new MessageSignatureBundleBuilder({ signer: keyPair, witnesses: [witness] }).create({ data: blob }), blob);
  const statement = (version) => Buffer.from(JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: `${label}-${crypto.randomUUID()}`, digest: { sha256: sha256(crypto.randomBytes(8)).toString('hex') } }],
    predicateType: `https://arkivo.dev/interop/sigstore-js/shards/${version}`,
    predicate: {},
  }));
  await record('v1 dsse', 1, await new DSSEBundleBuilder({ signer: keyPair, witnesses: [witness] }).create({ data: statement('v1'), type: 'application/vnd.in-toto+json' }));

  progress.step = `${label}: raw v1 entry`;
  const activePrefix = treePrefix(shard.treeId);
  if (state.raw === undefined) {
    const proposed = proposedHashedrekord(signer, privateKey, crypto.randomBytes(48));
    const res = await http('POST', `${base}/api/v1/log/entries`, { body: proposed });
    check(res.status === 201, `raw POST: expected 201, got ${res.status}: ${res.text.slice(0, 300)}`);
    const [id, entry] = Object.entries(JSON.parse(res.text))[0];
    check(id.startsWith(activePrefix) && entry.logIndex === shard.offset + next, `raw POST: entry ${id} at ${entry.logIndex}, expected tree prefix ${activePrefix} at ${shard.offset + next}`);
    state.raw = { proposed, entryId: id, uuid: id.slice(16), logIndex: entry.logIndex };
    run.raw = { created: res.status, entryId: id, logIndex: entry.logIndex };
  } else {
    // Logged in a frozen shard: duplicates are looked for in the active shard only (§9), so the
    // same entry is logged again, under the same UUID, with the active tree's prefix.
    const res = await http('POST', `${base}/api/v1/log/entries`, { body: state.raw.proposed });
    check(res.status === 201, `the first run's raw entry again, after a rotation: expected 201 (a new entry in the active shard), got ${res.status}: ${res.text.slice(0, 300)}`);
    const [id, entry] = Object.entries(JSON.parse(res.text))[0];
    check(id === activePrefix + state.raw.uuid, `raw entry again: entry ID ${id} should be ${activePrefix}${state.raw.uuid}`);
    check(entry.logIndex === shard.offset + next && entry.verification.inclusionProof.logIndex === next, `raw entry again: logIndex ${entry.logIndex}/${entry.verification.inclusionProof.logIndex}, expected ${shard.offset + next}/${next}`);
    const dup = await http('POST', `${base}/api/v1/log/entries`, { body: state.raw.proposed });
    check(dup.status === 409 && dup.headers.get('location')?.endsWith(`/${id}`), `raw entry a third time: expected 409 with Location .../${id}, got ${dup.status} ${dup.headers.get('location')}`);
    const first = await getJSON(`${base}/api/v1/log/entries/${state.raw.entryId}`);
    check(first[state.raw.entryId]?.logIndex === state.raw.logIndex, `GET ${state.raw.entryId} (the first run's entry): should still be at ${state.raw.logIndex}`);
    const byUuid = await getJSON(`${base}/api/v1/log/entries/${state.raw.uuid}`);
    check(Object.keys(byUuid)[0] === id, `GET by the bare UUID: the active shard's entry ${id} first, got ${Object.keys(byUuid)[0]}`);
    const retrieved = await http('POST', `${base}/api/v1/log/entries/retrieve`, { body: { entryUUIDs: [state.raw.uuid] } });
    const ids = JSON.parse(retrieved.text).map((m) => Object.keys(m)[0]);
    const logged = state.runs.length + 1;
    check(ids.length === logged && ids.every((x) => x.endsWith(state.raw.uuid)) && new Set(ids.map((x) => x.slice(0, 16))).size === logged, `retrieve by UUID: one entry per shard holding it (${logged}), got ${JSON.stringify(ids)}`);
    run.raw = { created: res.status, duplicate: dup.status, entryId: id, logIndex: entry.logIndex, retrieved: ids.length };
  }
  next++;

  progress.step = `${label}: Rekor v2 hashedrekord and dsse (RekorWitness majorApiVersion 2)`;
  const witnessV2 = new RekorWitness({ rekorBaseURL: base, majorApiVersion: 2, timeout: FETCH_TIMEOUT_MS, retry: 0 });
  const blobV2 = Buffer.concat([Buffer.from(`arkivo shards ${label} v2 `), crypto.randomBytes(32)]);
  await record('v2 hashedrekord', 2, await new MessageSignatureBundleBuilder({ signer: keyPair, witnesses: [witnessV2] }).create({ data: blobV2 }), blobV2);
  await record('v2 dsse', 2, await new DSSEBundleBuilder({ signer: keyPair, witnesses: [witnessV2] }).create({ data: statement('v2'), type: 'application/vnd.in-toto+json' }));

  progress.step = `${label}: raw Rekor v2 requests again`;
  // The request RekorWitness sent for a v2 hashedrekord bundle.
  const requestOf = (bundleJSON) => ({
    hashedRekordRequestV002: {
      digest: bundleJSON.messageSignature.messageDigest.digest,
      signature: {
        content: bundleJSON.messageSignature.signature,
        verifier: { x509Certificate: { rawBytes: signer.spki }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
      },
    },
  });
  const mine = state.entries.find((e) => e.label === label && e.name === 'v2 hashedrekord');
  const dupV2 = await http('POST', `${base}/api/v2/log/entries`, { body: requestOf(mine.bundle) });
  check(dupV2.status === 409 && dupV2.headers.get('x-log-index') === String(mine.index), `v2 hashedrekord again: expected 409 with x-log-index ${mine.index} (its index in the shard), got ${dupV2.status} ${dupV2.headers.get('x-log-index')}: ${dupV2.text.slice(0, 200)}`);
  run.v2Duplicate = dupV2.status;
  const firstV2 = state.entries.find((e) => e.label === state.runs[0]?.label && e.name === 'v2 hashedrekord');
  if (firstV2 !== undefined) {
    // Frozen since the first run: logged again in the active shard, and the first run's bundle
    // with the new entry verifies.
    const res = await http('POST', `${base}/api/v2/log/entries`, { body: requestOf(firstV2.bundle) });
    check(res.status === 201, `the first run's v2 hashedrekord again, after a rotation: expected 201 (a new entry in the active shard), got ${res.status}: ${res.text.slice(0, 300)}`);
    const tle = TransparencyLogEntry.toJSON(TransparencyLogEntry.fromJSON(JSON.parse(res.text)));
    const again = { ...firstV2.bundle, verificationMaterial: { ...firstV2.bundle.verificationMaterial, tlogEntries: [tle] } };
    await record('v2 hashedrekord again', 2, again, Buffer.from(firstV2.artifact, 'base64'));
  }

  state.runs.push(run);
  writeFileSync(statePath, JSON.stringify(state));
  const { root: _root, ...summary } = run;
  return { client: 'sigstore-js', command, ...summary, checks: progress.checks };
}

// ---------------------------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------------------------

// The trusted root against the shards: an ECDSA instance per distinct key, an Ed25519 instance
// per shard whose baseUrl serves the shard's C2SP checkpoint, validity periods that follow each
// other and cover the entries each key signed.
async function checkTrustedRoot(rootJSON, log, entries) {
  const time = (s, what) => {
    const d = new Date(s);
    check(typeof s === 'string' && !Number.isNaN(d.getTime()), `${what}: not an RFC 3339 time: ${JSON.stringify(s)}`);
    return d.getTime() / 1000;
  };
  const ecdsa = rootJSON.tlogs.filter((t) => t.publicKey?.keyDetails === 'PKIX_ECDSA_P256_SHA_256');
  const ed = rootJSON.tlogs.filter((t) => t.publicKey?.keyDetails === 'PKIX_ED25519');
  check(ecdsa.length + ed.length === rootJSON.tlogs.length, 'trusted root: only ECDSA and Ed25519 instances');
  const keys = [...new Set(log.shards.map((s) => b64(s.logId)))];
  check(ecdsa.length === keys.length, `trusted root: one ECDSA instance per distinct shard key (${keys.length}), got ${ecdsa.length}`);
  const summary = { ecdsa: [], ed25519: [] };
  let previousEnd;
  for (const [i, logId] of keys.entries()) {
    const t = ecdsa[i];
    const shards = log.shards.filter((s) => b64(s.logId) === logId);
    const what = `trusted root ECDSA instance ${i} (trees ${shards.map((s) => s.treeId).join(', ')})`;
    check(t.logId?.keyId === logId && t.checkpointKeyId === undefined, `${what}: logId should be ${logId} (in shard order), got ${t.logId?.keyId}`);
    check(Buffer.from(t.publicKey.rawBytes, 'base64').equals(shards[0].der), `${what}: rawBytes is not the key publicKey?treeID=${shards[0].treeId} serves`);
    check(t.baseUrl === base, `${what}: baseUrl should be ${base}, got ${t.baseUrl}`);
    const start = time(t.publicKey.validFor?.start, `${what} validFor.start`);
    const end = t.publicKey.validFor?.end === undefined ? undefined : time(t.publicKey.validFor.end, `${what} validFor.end`);
    check(previousEnd === undefined || start <= previousEnd, `${what}: validFor.start ${t.publicKey.validFor.start} leaves a gap after the previous key's validity`);
    check((end === undefined) === shards.at(-1).active, `${what}: validFor.end should be set exactly when the key's last shard is frozen, got ${JSON.stringify(t.publicKey.validFor)}`);
    for (const e of entries.filter((x) => x.api === 1 && shards.some((s) => s.treeId === x.treeId))) {
      const at = Number(e.bundle.verificationMaterial.tlogEntries[0].integratedTime);
      check(start <= at && (end === undefined || at <= end), `${what}: validFor ${JSON.stringify(t.publicKey.validFor)} should cover ${e.label} ${e.name}, integrated at ${new Date(at * 1000).toISOString()}`);
    }
    previousEnd = end;
    summary.ecdsa.push({ trees: shards.map((s) => s.treeId), start: t.publicKey.validFor.start, end: t.publicKey.validFor.end ?? null });
  }
  check(ed.length === log.shards.length, `trusted root: one Ed25519 instance per shard (${log.shards.length}), got ${ed.length}`);
  previousEnd = undefined;
  for (const [i, shard] of log.shards.entries()) {
    const what = `trusted root Ed25519 instance of tree ${shard.treeId}`;
    const inst = ed25519Of(rootJSON, shard, what);
    check(inst.t === ed[i], `${what}: instances should be in shard order`);
    check(inst.t.logId?.keyId === inst.t.checkpointKeyId.keyId, `${what}: logId should equal checkpointKeyId`);
    const wantUrl = shard.position === 0 ? base : `${base}/shards/${shard.treeId}`;
    check(inst.t.baseUrl === wantUrl, `${what}: baseUrl should be ${wantUrl}, got ${inst.t.baseUrl}`);
    // The tiles of the shard are at its baseUrl: its checkpoint verifies with this key.
    const res = await http('GET', `${inst.t.baseUrl}/checkpoint`, { accept: 'text/plain' });
    check(res.status === 200, `GET ${inst.t.baseUrl}/checkpoint: HTTP ${res.status}`);
    const cp = parseNote(res.text, `${inst.t.baseUrl}/checkpoint`);
    check(cp.origin === inst.origin && cp.size === BigInt(shard.size), `${inst.t.baseUrl}/checkpoint: origin/size ${cp.origin}/${cp.size}, expected ${inst.origin}/${shard.size}`);
    checkNote(cp, { key: inst.key, name: inst.origin, hint: inst.keyId }, `${inst.t.baseUrl}/checkpoint`);
    check(inst.t.baseUrl.match(cp.sig.name) !== null, `${what}: sigstore-js matches the checkpoint name ${cp.sig.name} in the baseUrl ${inst.t.baseUrl}`);
    const start = time(inst.t.publicKey.validFor?.start, `${what} validFor.start`);
    const end = inst.t.publicKey.validFor?.end;
    check(previousEnd === undefined || start <= previousEnd, `${what}: validFor.start leaves a gap after the previous shard's`);
    check((end === undefined) === shard.active, `${what}: validFor.end should be set exactly for a frozen shard, got ${JSON.stringify(inst.t.publicKey.validFor)}`);
    previousEnd = end === undefined ? undefined : time(end, `${what} validFor.end`);
    summary.ed25519.push({ tree: shard.treeId, baseUrl: inst.t.baseUrl, start: inst.t.publicKey.validFor.start, end: end ?? null });
  }
  return summary;
}

// Reads an entry back through the v1 API by its virtual index and by its entry ID.
async function readBack(e, log) {
  const tle = e.bundle.verificationMaterial.tlogEntries[0];
  const shard = shardOf(log, e.treeId, `${e.label} ${e.name}`);
  const id = treePrefix(shard.treeId) + leafHash(Buffer.from(tle.canonicalizedBody, 'base64')).toString('hex');
  for (const url of [`${base}/api/v1/log/entries?logIndex=${e.logIndex}`, `${base}/api/v1/log/entries/${id}`]) {
    const map = await getJSON(url);
    const what = `${e.label} ${e.name}: GET ${url}`;
    check(Object.keys(map).length === 1 && map[id] !== undefined, `${what}: expected entry ${id}, got ${Object.keys(map)}`);
    const n = map[id];
    check(n.body === tle.canonicalizedBody, `${what}: another body`);
    check(n.logIndex === e.logIndex && n.verification.inclusionProof.logIndex === e.index, `${what}: logIndex ${n.logIndex} / inclusionProof.logIndex ${n.verification.inclusionProof.logIndex}, expected ${e.logIndex} / ${e.index}`);
    check(n.logID === shard.logId.toString('hex'), `${what}: logID should be tree ${shard.treeId}'s`);
    const cp = parseNote(n.verification.inclusionProof.checkpoint, `${what}: checkpoint`);
    check(cp.origin === `${host} - ${shard.treeId}`, `${what}: the proof's checkpoint should be tree ${shard.treeId}'s, got origin ${cp.origin}`);
    if (e.api === 1) check(String(n.integratedTime) === tle.integratedTime, `${what}: integratedTime differs from the bundle's`);
  }
}

async function verify() {
  const state = loadState();
  check(state.runs.length >= 2 && state.signer, 'verify needs the state of at least two sign runs');
  progress.step = 'the shards';
  const log = await readShards();
  check(log.shards.length === new Set(state.runs.map((r) => r.treeId)).size, `the log has ${log.shards.length} shards, the sign runs saw ${new Set(state.runs.map((r) => r.treeId)).size}`);
  const entries = state.entries.map((e) => ({ ...e, artifact: e.artifact && Buffer.from(e.artifact, 'base64') }));

  progress.step = 'the trusted root after the rotations';
  const rootJSON = await getJSON(`${base}/api/v1/log/trustedRoot`);
  const trust = await checkTrustedRoot(rootJSON, log, entries);
  const v = verifiers(rootJSON, state.signer);

  progress.step = 'every bundle, with the trusted root served now';
  for (const e of entries) {
    const what = `${e.label} ${e.name} (tree ${e.treeId})`;
    const tle = e.bundle.verificationMaterial.tlogEntries[0];
    const shard = shardOf(log, e.treeId, what);
    if (e.api === 1) {
      const got = checkTLEv1(tle, log, what);
      check(got.shard === shard && got.index === e.index && got.logIndex === e.logIndex, `${what}: changed since signing`);
    } else {
      checkTLEv2(tle, shard, ed25519Of(rootJSON, shard, what), what);
    }
    mustVerify(v, e, `${what}, with the trusted root served after the rotations`);
    await readBack(e, log);
  }

  progress.step = 'tampered bundles';
  const firstTree = state.runs[0].treeId;
  const later = entries.filter((e) => e.treeId !== firstTree);
  check(later.some((e) => e.api === 1) && later.some((e) => e.api === 2), 'bundles signed after a rotation, v1 and v2');
  for (const e of later) {
    const what = `${e.label} ${e.name}`;
    const tle = e.bundle.verificationMaterial.tlogEntries[0];
    rejects(v, e, edited(e.bundle, (t) => {
      t.inclusionProof.checkpoint.envelope = t.inclusionProof.checkpoint.envelope.replace(/^(\u2014 \S+ )(\S+)$/m, (_m, n, s) => n + flipB64(s));
    }), 'TLOG_INCLUSION_PROOF_ERROR', /invalid checkpoint signature/, `${what}: checkpoint signature flipped`);
    // (v1: the SET, checked first, covers the body too)
    rejects(v, e, edited(e.bundle, (t) => {
      t.canonicalizedBody = flipB64(t.canonicalizedBody, 20);
    }), e.api === 1 ? 'TLOG_INCLUSION_PROMISE_ERROR' : 'TLOG_INCLUSION_PROOF_ERROR', /inclusion promise|calculated root hash/, `${what}: body flipped`);
    // Another shard's checkpoint (signed, by a key the root trusts) does not hold the entry.
    const other = entries.find((x) => x.api === e.api && x.treeId !== e.treeId);
    rejects(v, e, edited(e.bundle, (t) => {
      t.inclusionProof.checkpoint = other.bundle.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint;
    }), 'TLOG_INCLUSION_PROOF_ERROR', /calculated root hash|invalid index|invalid hash count/, `${what}: tree ${other.treeId}'s checkpoint`);
    if (e.api === 1) {
      rejects(v, e, edited(e.bundle, (t) => {
        t.inclusionPromise.signedEntryTimestamp = flipB64(t.inclusionPromise.signedEntryTimestamp);
      }), 'TLOG_INCLUSION_PROMISE_ERROR', /inclusion promise/, `${what}: SET flipped`);
      // The SET covers the virtual index; the proof is at the index in the shard.
      rejects(v, e, edited(e.bundle, (t) => {
        t.logIndex = t.inclusionProof.logIndex;
      }), 'TLOG_INCLUSION_PROMISE_ERROR', /inclusion promise/, `${what}: logIndex ${int64(tle.logIndex)} replaced by the index in the shard ${int64(tle.inclusionProof.logIndex)}`);
      rejects(v, e, edited(e.bundle, (t) => {
        t.inclusionProof.logIndex = t.logIndex;
      }), 'TLOG_INCLUSION_PROOF_ERROR', /calculated root hash|invalid index|invalid hash count/, `${what}: inclusionProof.logIndex ${int64(tle.inclusionProof.logIndex)} replaced by the virtual index ${int64(tle.logIndex)}`);
    } else {
      rejects(v, e, edited(e.bundle, (t) => {
        t.inclusionProof.hashes[0] = flipB64(t.inclusionProof.hashes[0], 7);
      }), 'TLOG_INCLUSION_PROOF_ERROR', /calculated root hash/, `${what}: proof hash flipped`);
    }
  }

  progress.step = 'tampered trust';
  // The trusted root of the first run (before any rotation) knows none of the later shards' keys
  // (v1 after `--new-key`, v2 always: each shard has its own origin), and still verifies the
  // first shard's bundles.
  const before = verifiers(state.runs[0].root, state.signer);
  for (const e of entries) {
    const what = `${e.label} ${e.name} with the trusted root of before the rotations`;
    const sameKey = e.api === 1 && b64(shardOf(log, e.treeId, what).logId) === b64(log.shards[0].logId);
    if (e.treeId === firstTree || sameKey) mustVerify(before, e, what);
    else if (e.api === 1) rejects(before, e, e.bundle, 'TLOG_INCLUSION_PROMISE_ERROR', /inclusion promise/, what);
    else rejects(before, e, e.bundle, 'TLOG_INCLUSION_PROOF_ERROR', /invalid checkpoint signature/, what);
  }
  // Validity matters: a key is not trusted for entries integrated outside its validFor.
  const times = (pred) => entries.filter((e) => e.api === 1 && pred(e)).map((e) => Number(e.bundle.verificationMaterial.tlogEntries[0].integratedTime));
  const iso = (s) => new Date(s * 1000).toISOString();
  for (const [i, k] of trust.ecdsa.entries()) {
    const signed = entries.filter((e) => e.api === 1 && k.trees.includes(e.treeId));
    const at = times((e) => k.trees.includes(e.treeId));
    const shifted = structuredClone(rootJSON);
    const validFor = shifted.tlogs.filter((t) => t.publicKey.keyDetails === 'PKIX_ECDSA_P256_SHA_256')[i].publicKey.validFor;
    if (i > 0) validFor.start = iso(Math.max(...at) + 1);
    else validFor.end = iso(Math.min(...at) - 1);
    const sv = verifiers(shifted, state.signer);
    for (const e of signed) rejects(sv, e, e.bundle, 'TLOG_INCLUSION_PROMISE_ERROR', /inclusion promise/, `${e.label} ${e.name}: its key's validFor shifted to ${JSON.stringify(validFor)}`);
  }
  // The checkpoint name must match the baseUrl of the shard's Ed25519 instance.
  const lastV2 = entries.filter((e) => e.api === 2).at(-1);
  const swapped = structuredClone(rootJSON);
  for (const t of swapped.tlogs) if (t.publicKey.keyDetails === 'PKIX_ED25519') t.baseUrl = base;
  check(lastV2.treeId !== firstTree, 'the last v2 bundle is in a later shard');
  rejects(verifiers(swapped, state.signer), lastV2, lastV2.bundle, 'TLOG_INCLUSION_PROOF_ERROR', /invalid checkpoint signature/, `${lastV2.label} ${lastV2.name}: every Ed25519 instance at the first shard's baseUrl`);

  return {
    client: 'sigstore-js',
    command,
    shards: log.shards.map((s) => ({ treeId: s.treeId, size: s.size, offset: s.offset, logId: s.logId.toString('hex') })),
    trustedRoot: trust,
    verified: entries.length,
    entries: entries.map((e) => ({ label: e.label, name: e.name, treeId: e.treeId, index: e.index, logIndex: e.logIndex })),
    negativeChecks: progress.negativeChecks,
    checks: progress.checks,
  };
}

(command === 'sign' ? sign() : verify()).then((r) => {
  process.stdout.write(`${JSON.stringify({ ...r, ok: true })}\n`);
  process.exit(0);
}, die);
