// Bundles between `arkivo sign-blob`/`verify-blob` and the official Sigstore JavaScript libraries:
//
//   node arkivo-bundles.mjs verify <baseUrl> <bundle.json> <artifact> <signer.pub>
//     @sigstore/verify checks a bundle written by `arkivo sign-blob`, offline, against the trusted
//     root the log serves (tlog threshold 1, the SET's integrated time as the timestamp), with the
//     signer key supplied under the bundle's hint; the same bundle must fail for another artifact.
//
//   node arkivo-bundles.mjs sign <baseUrl> <artifact> <bundle-out.json> <signer-out.pub>
//     @sigstore/sign signs the artifact with a fresh P-256 key, records it through RekorWitness
//     (Rekor v1 API) and writes the bundle and the public key, for `arkivo verify-blob`.
//
// Prints one JSON line on stdout; exits 1 with a message on stderr when a check fails, 2 for a
// usage error.

import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';

const TIMEOUT_MS = 30_000;
const VALIDITY_S = 3600; // the signer key is trusted for ±1 h around now

function fail(message, code = 1) {
  process.stderr.write(`arkivo-bundles: ${message}\n`);
  process.exit(code);
}

async function trustedRoot(base) {
  const res = await fetch(`${base}/api/v1/log/trustedRoot`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (res.status !== 200) fail(`GET ${base}/api/v1/log/trustedRoot: HTTP ${res.status}`);
  return TrustedRoot.fromJSON(await res.json());
}

function verifier(root, hint, keyDer) {
  const keys = {
    [hint]: {
      rawBytes: keyDer,
      validFor: { start: new Date(Date.now() - VALIDITY_S * 1000), end: new Date(Date.now() + VALIDITY_S * 1000) },
    },
  };
  return new Verifier(toTrustMaterial(root, keys), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
}

async function verify(base, bundlePath, artifactPath, pubPath) {
  const json = JSON.parse(readFileSync(bundlePath, 'utf8'));
  const bundle = bundleFromJSON(json);
  const artifact = readFileSync(artifactPath);
  const key = crypto.createPublicKey(readFileSync(pubPath, 'utf8'));
  const keyDer = key.export({ type: 'spki', format: 'der' });
  if (bundle.verificationMaterial.content.$case !== 'publicKey') fail('the bundle does not name a public key');
  const hint = bundle.verificationMaterial.content.publicKey.hint;
  const v = verifier(await trustedRoot(base), hint, keyDer);
  let signer;
  try {
    signer = v.verify(toSignedEntity(bundle, artifact));
  } catch (err) {
    fail(`@sigstore/verify rejected the arkivo bundle: ${err.code ?? ''} ${err.message}`);
  }
  if (!signer.key.export({ type: 'spki', format: 'der' }).equals(keyDer)) fail('@sigstore/verify returned another key');
  let rejected = false;
  try {
    v.verify(toSignedEntity(bundle, Buffer.concat([artifact, Buffer.from('!')])));
  } catch {
    rejected = true;
  }
  if (!rejected) fail('@sigstore/verify accepted the bundle for another artifact');
  return { mode: 'verify', mediaType: json.mediaType, hint, logIndex: json.verificationMaterial.tlogEntries[0].logIndex };
}

async function sign(base, artifactPath, bundleOut, pubOut) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  const hint = crypto.createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  const signer = {
    async sign(data) {
      return { signature: crypto.sign('sha256', data, privateKey), key: { $case: 'publicKey', publicKey: pem, hint } };
    },
  };
  const witness = new RekorWitness({ rekorBaseURL: base, timeout: TIMEOUT_MS, retry: 0 });
  const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: readFileSync(artifactPath) });
  writeFileSync(bundleOut, `${JSON.stringify(bundleToJSON(bundle), null, 2)}\n`);
  writeFileSync(pubOut, pem);
  return { mode: 'sign', mediaType: bundle.mediaType, logIndex: Number(bundle.verificationMaterial.tlogEntries[0].logIndex) };
}

const [mode, base, ...rest] = process.argv.slice(2);
if (!['verify', 'sign'].includes(mode) || !base || rest.length !== 3) {
  fail('usage: node arkivo-bundles.mjs verify <baseUrl> <bundle> <artifact> <signer.pub> | sign <baseUrl> <artifact> <bundle-out> <pub-out>', 2);
}
try {
  const result = mode === 'verify' ? await verify(base, ...rest) : await sign(base, ...rest);
  process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`);
} catch (err) {
  fail(`${err?.name}: ${err?.message}`);
}
