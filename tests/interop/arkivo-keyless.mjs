// Keyless bundles between `arkivo sign-blob`/`verify-blob` and the official Sigstore JavaScript
// libraries, with Arkivo's certificate authority:
//
//   node arkivo-keyless.mjs verify <baseUrl> <bundle.json> <artifact> <identity> <issuer>
//     @sigstore/verify checks a keyless bundle written by `arkivo sign-blob`, offline, against the
//     trusted root the log serves (its CA, CT log and log; tlog threshold 1, ctlogThreshold 1:
//     the certificate's embedded SCT), with the policy "certificate names <identity>, issued for <issuer>";
//     the same bundle must fail for another identity, another issuer and another artifact.
//
//     A DSSE bundle (`arkivo attest-blob`'s) must fail with an altered payload instead.
//
//   node arkivo-keyless.mjs sign <baseUrl> <idToken> <artifact> <bundle-out.json>
//     @sigstore/sign's FulcioSigner gets a certificate from <baseUrl>'s CA for an ephemeral key,
//     signs the artifact and records it through RekorWitness (Rekor v1 API); writes the bundle,
//     for `arkivo verify-blob`.
//
// Prints one JSON line on stdout; exits 1 with a message on stderr when a check fails, 2 for a
// usage error.

import { readFileSync, writeFileSync } from 'node:fs';
import { FulcioSigner, MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';

const TIMEOUT_MS = 30_000;

function fail(message, code = 1) {
  process.stderr.write(`arkivo-keyless: ${message}\n`);
  process.exit(code);
}

async function trustedRoot(base) {
  const res = await fetch(`${base}/api/v1/log/trustedRoot`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (res.status !== 200) fail(`GET ${base}/api/v1/log/trustedRoot: HTTP ${res.status}`);
  return TrustedRoot.fromJSON(await res.json());
}

// sigstore-js treats the identity as a regular expression: anchor and escape it for an exact match.
const exactly = (s) => `^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

function refuses(v, entity, policy, what) {
  try {
    v.verify(entity, policy);
  } catch {
    return;
  }
  fail(`@sigstore/verify accepted the bundle for ${what}`);
}

async function verify(base, bundlePath, artifactPath, identity, issuer) {
  const json = JSON.parse(readFileSync(bundlePath, 'utf8'));
  const bundle = bundleFromJSON(json);
  if (bundle.verificationMaterial.content.$case !== 'certificate') fail('the bundle does not carry a certificate (v0.3)');
  const artifact = readFileSync(artifactPath);
  const v = new Verifier(toTrustMaterial(await trustedRoot(base)), { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
  const entity = toSignedEntity(bundle, artifact);
  const policy = { subjectAlternativeName: exactly(identity), extensions: { issuer } };
  let signer;
  try {
    signer = v.verify(entity, policy);
  } catch (err) {
    fail(`@sigstore/verify rejected the arkivo keyless bundle: ${err.code ?? ''} ${err.message}`);
  }
  refuses(v, entity, { ...policy, subjectAlternativeName: exactly(`other-${identity}`) }, 'another identity');
  refuses(v, entity, { ...policy, extensions: { issuer: `${issuer}/other` } }, 'another issuer');
  if (json.dsseEnvelope) {
    // A DSSE bundle signs its envelope, whose statement names the artifact: a changed payload
    // (another subject digest) must fail.
    const altered = structuredClone(json);
    const statement = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString());
    statement.subject[0].digest.sha256 = '0'.repeat(64);
    altered.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    refuses(v, toSignedEntity(bundleFromJSON(altered)), policy, 'an altered payload');
  } else {
    refuses(v, toSignedEntity(bundle, Buffer.concat([artifact, Buffer.from('!')])), policy, 'another artifact');
  }
  return {
    mode: 'verify',
    mediaType: json.mediaType,
    content: json.dsseEnvelope ? 'dsseEnvelope' : 'messageSignature',
    san: signer.identity?.subjectAlternativeName,
    issuer: signer.identity?.extensions?.issuer,
  };
}

async function sign(base, token, artifactPath, bundleOut) {
  const signer = new FulcioSigner({ fulcioBaseURL: base, identityProvider: { getToken: async () => token }, timeout: TIMEOUT_MS });
  const witness = new RekorWitness({ rekorBaseURL: base, timeout: TIMEOUT_MS, retry: 0 });
  const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: readFileSync(artifactPath) });
  writeFileSync(bundleOut, `${JSON.stringify(bundleToJSON(bundle), null, 2)}\n`);
  return {
    mode: 'sign',
    mediaType: bundle.mediaType,
    material: bundle.verificationMaterial.content.$case,
    logIndex: Number(bundle.verificationMaterial.tlogEntries[0].logIndex),
  };
}

const [mode, base, ...rest] = process.argv.slice(2);
if (!((mode === 'verify' && rest.length === 4) || (mode === 'sign' && rest.length === 3)) || !base) {
  fail('usage: node arkivo-keyless.mjs verify <baseUrl> <bundle> <artifact> <identity> <issuer> | sign <baseUrl> <idToken> <artifact> <bundle-out>', 2);
}
try {
  const result = mode === 'verify' ? await verify(base, ...rest) : await sign(base, ...rest);
  process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`);
} catch (err) {
  fail(`${err?.name}: ${err?.message}`);
}
