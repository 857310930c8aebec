// The official Sigstore JavaScript libraries against a running Arkivo server:
//   node sigstore-js.mjs <baseUrl>
// Signs a blob (hashedrekord) and an in-toto statement (dsse) with a local P-256 key, records
// them through @sigstore/sign's RekorWitness, and verifies the bundles offline with
// @sigstore/verify against the TrustedRoot the server publishes: signature, body, SET,
// checkpoint signature and inclusion proof. Tampered bundles and a foreign log key must fail.
// Prints one JSON line; exits non-zero naming the first failure.

import crypto from 'node:crypto';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';

const base = process.argv[2];
if (!base) {
  console.error('usage: node sigstore-js.mjs <baseUrl>');
  process.exit(2);
}

function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function fetchOk(url, init) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  return res;
}

// --- The log's trust material, as a verifier would be configured with it ---------------------
const rootJSON = await (await fetchOk(`${base}/api/v1/log/trustedRoot`)).json();
const trustedRoot = TrustedRoot.fromJSON(rootJSON);
check(trustedRoot.tlogs.length === 1, 'the trusted root lists one log');
const logKeyDer = Buffer.from(trustedRoot.tlogs[0].publicKey.rawBytes);
const pemRes = await fetchOk(`${base}/api/v1/log/publicKey`);
check(pemRes.headers.get('content-type') === 'application/x-pem-file', 'publicKey content type');
const logKeyPem = crypto.createPublicKey(await pemRes.text());
check(logKeyPem.export({ type: 'spki', format: 'der' }).equals(logKeyDer), 'publicKey matches the trusted root');
check(
  Buffer.from(trustedRoot.tlogs[0].logId.keyId).equals(crypto.createHash('sha256').update(logKeyDer).digest()),
  'logId = SHA-256 of the log key',
);

// --- A self-managed signing key (no Fulcio) --------------------------------------------------
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const hint = 'arkivo-interop';
const signer = {
  async sign(data) {
    return {
      signature: crypto.sign('sha256', data, privateKey),
      key: { $case: 'publicKey', publicKey: publicKey.export({ type: 'spki', format: 'pem' }), hint },
    };
  },
};
const keys = {
  [hint]: { rawBytes: publicKey.export({ type: 'spki', format: 'der' }), keyDetails: 5, validFor: { start: new Date(0) } },
};

function verifier(root) {
  return new Verifier(toTrustMaterial(root, keys), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
}

// A bundle goes to disk and back before it is verified, as it would in real use.
function roundtrip(bundle) {
  return bundleFromJSON(JSON.parse(JSON.stringify(bundleToJSON(bundle))));
}

function mustFail(what, fn) {
  let failed = false;
  try {
    fn();
  } catch {
    failed = true;
  }
  check(failed, `verification should have failed: ${what}`);
}

function tampered(bundle, mutate) {
  const json = JSON.parse(JSON.stringify(bundleToJSON(bundle)));
  mutate(json.verificationMaterial.tlogEntries[0]);
  return bundleFromJSON(json);
}

function flipB64(s, at = 3) {
  const b = Buffer.from(s, 'base64');
  b[at % b.length] ^= 1;
  return b.toString('base64');
}

function checkEntry(bundle, kind) {
  const e = bundleToJSON(bundle).verificationMaterial.tlogEntries[0];
  check(e.kindVersion.kind === kind && e.kindVersion.version === '0.0.1', `${kind} kind/version`);
  check(e.inclusionPromise?.signedEntryTimestamp, `${kind} has a SET`);
  const p = e.inclusionProof;
  check(p && p.checkpoint.envelope.includes('\n\n\u2014 '), `${kind} has an inclusion proof with a checkpoint`);
  // protobuf JSON omits zero values: an absent index is index 0.
  check(Number(p.treeSize) > Number(p.logIndex ?? 0), `${kind} proof tree size covers the entry`);
  check((p.logIndex ?? '0') === (e.logIndex ?? '0'), `${kind} proof index = entry index`);
  return e;
}

const witness = new RekorWitness({ rekorBaseURL: base, entryType: 'dsse', timeout: 30_000 });
const results = {};

// --- hashedrekord: a blob -----------------------------------------------------------------
const blob = Buffer.concat([Buffer.from('arkivo interop blob '), crypto.randomBytes(16)]);
const msgBundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: blob });
const msgEntry = checkEntry(msgBundle, 'hashedrekord');
const v = verifier(trustedRoot);
v.verify(toSignedEntity(roundtrip(msgBundle), blob));
mustFail('another artifact', () => v.verify(toSignedEntity(roundtrip(msgBundle), Buffer.from('other'))));
mustFail('a flipped SET bit', () =>
  v.verify(toSignedEntity(tampered(msgBundle, (e) => { e.inclusionPromise.signedEntryTimestamp = flipB64(e.inclusionPromise.signedEntryTimestamp); }), blob)));
mustFail('a flipped proof hash bit', () =>
  v.verify(toSignedEntity(tampered(msgBundle, (e) => {
    if (e.inclusionProof.hashes.length === 0) e.inclusionProof.hashes.push(Buffer.alloc(32).toString('base64'));
    else e.inclusionProof.hashes[0] = flipB64(e.inclusionProof.hashes[0]);
  }), blob)));
mustFail('a flipped checkpoint signature bit', () =>
  v.verify(toSignedEntity(tampered(msgBundle, (e) => {
    const env = e.inclusionProof.checkpoint.envelope;
    const [head, sigLine] = env.split('\n\n');
    const parts = sigLine.trimEnd().split(' ');
    parts[2] = flipB64(parts[2], 20);
    e.inclusionProof.checkpoint.envelope = `${head}\n\n${parts.join(' ')}\n`;
  }), blob)));
mustFail('a flipped body bit', () =>
  v.verify(toSignedEntity(tampered(msgBundle, (e) => { e.canonicalizedBody = flipB64(e.canonicalizedBody, 40); }), blob)));
const otherKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
const foreignRoot = TrustedRoot.fromJSON({
  ...rootJSON,
  tlogs: [{ ...rootJSON.tlogs[0], publicKey: { ...rootJSON.tlogs[0].publicKey, rawBytes: otherKey.toString('base64') } }],
});
mustFail('a trusted root with another log key', () => verifier(foreignRoot).verify(toSignedEntity(roundtrip(msgBundle), blob)));
results.hashedrekord = { logIndex: Number(msgEntry.logIndex ?? 0) };

// --- dsse: an in-toto statement ------------------------------------------------------------
const statement = JSON.stringify({
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'artifact', digest: { sha256: crypto.createHash('sha256').update(blob).digest('hex') } }],
  predicateType: 'https://arkivo.dev/interop/v1',
  predicate: { nonce: crypto.randomBytes(8).toString('hex') },
});
const dsseBundle = await new DSSEBundleBuilder({ signer, witnesses: [witness] }).create({
  data: Buffer.from(statement),
  type: 'application/vnd.in-toto+json',
});
const dsseEntry = checkEntry(dsseBundle, 'dsse');
v.verify(toSignedEntity(roundtrip(dsseBundle)));
mustFail('a dsse bundle with a flipped SET bit', () =>
  v.verify(toSignedEntity(tampered(dsseBundle, (e) => { e.inclusionPromise.signedEntryTimestamp = flipB64(e.inclusionPromise.signedEntryTimestamp); }))));
results.dsse = { logIndex: Number(dsseEntry.logIndex ?? 0) };

// --- The raw v1 API: a duplicate answers 409 with the same entry's Location -----------------
const digest = crypto.createHash('sha256').update(blob).digest('hex');
const proposed = {
  apiVersion: '0.0.1',
  kind: 'hashedrekord',
  spec: {
    data: { hash: { algorithm: 'sha256', value: digest } },
    signature: {
      content: bundleToJSON(msgBundle).messageSignature.signature,
      publicKey: { content: Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })).toString('base64') },
    },
  },
};
const post = () => fetchOk(`${base}/api/v1/log/entries`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(proposed),
});
const dup = await post();
check(dup.status === 409, `re-posting answers 409, got ${dup.status}`);
const location = dup.headers.get('location');
const id = location.split('/').pop();
check(/^[0-9a-f]{80}$/.test(id), 'Location ends in an 80-hex entry ID');
const leaf = crypto.createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(msgEntry.canonicalizedBody, 'base64')])).digest('hex');
check(id.endsWith(leaf), 'the entry ID ends in the leaf hash of the logged body');
for (const url of [`${base}${location}`, `${base}/api/v1/log/entries?logIndex=${msgEntry.logIndex ?? 0}`]) {
  const res = await fetchOk(url);
  check(res.status === 200, `GET ${url}`);
  const entry = await res.json();
  check(Object.keys(entry).length === 1 && entry[id], `GET ${url} answers the same entry`);
  check(entry[id].body === msgEntry.canonicalizedBody, `GET ${url} has the same body`);
}
// A kind this log does not take is refused with a message, not a 5xx.
const intoto = await fetchOk(`${base}/api/v1/log/entries`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ apiVersion: '0.0.2', kind: 'intoto', spec: {} }),
});
check(intoto.status === 400 && (await intoto.json()).message.includes("'intoto'"), 'intoto is refused by name');
results.duplicate = { status: 409, entryId: id };

console.log(JSON.stringify({ client: 'sigstore-js', ...results }));
