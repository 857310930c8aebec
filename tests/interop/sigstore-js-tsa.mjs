// @sigstore/sign's TSAWitness against Arkivo's timestamp authority, and @sigstore/tuf against
// Arkivo's TUF repository:
//
//   node sigstore-js-tsa.mjs <baseUrl> <idToken> <identity> <issuer> <tufRoot.json> <cacheDir>
//
// 1. FulcioSigner gets a certificate from <baseUrl>'s CA and signs a blob; TSAWitness gets an
//    RFC 3161 timestamp over the signature from <baseUrl>/api/v1/timestamp (the JSON request
//    sigstore-js sends) — the bundle's only witness, no log entry.
// 2. @sigstore/verify verifies the bundle against the trusted root the log serves with the
//    timestamp as the only time (tlogThreshold 0, timestampThreshold 1; ctlogThreshold 1: the
//    certificate's embedded SCT) for <identity> and <issuer>; it refuses another identity,
//    another artifact, a timestamp whose signature was altered and a root without the TSA.
// 3. @sigstore/tuf, bootstrapped from <tufRoot.json> with <baseUrl>/tuf as the mirror (what
//    `tufMirrorURL` sets in sigstore-js), fetches trusted_root.json, which verifies the bundle.
// 4. A Rekor v2 entry with its timestamp: RekorWitness (majorApiVersion 2) and TSAWitness
//    together; @sigstore/verify accepts the bundle with one log entry, one SCT and one timestamp
//    required (a v2 entry's time is the timestamp), and refuses another identity and artifact.
//
// Prints one JSON line on stdout; exits 1 with a message on stderr when a check fails, 2 for a
// usage error.

import { readFileSync } from 'node:fs';
import crypto from 'node:crypto';
import { FulcioSigner, MessageSignatureBundleBuilder, RekorWitness, TSAWitness } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { getTrustedRoot } from '@sigstore/tuf';

const TIMEOUT_MS = 30_000;

function fail(message, code = 1) {
  process.stderr.write(`sigstore-js-tsa: ${message}\n`);
  process.exit(code);
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

const [base, token, identity, issuer, tufRoot, cacheDir] = process.argv.slice(2);
if (!cacheDir) {
  fail('usage: node sigstore-js-tsa.mjs <baseUrl> <idToken> <identity> <issuer> <tufRoot.json> <cacheDir>', 2);
}
try {
  const signer = new FulcioSigner({ fulcioBaseURL: base, identityProvider: { getToken: async () => token }, timeout: TIMEOUT_MS });
  const witness = new TSAWitness({ tsaBaseURL: base, timeout: TIMEOUT_MS, retry: 0 });
  const artifact = crypto.randomBytes(64);
  const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: artifact });
  const timestamps = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? [];
  if (timestamps.length !== 1) fail(`expected one RFC 3161 timestamp, got ${timestamps.length}`);
  if (bundle.verificationMaterial.tlogEntries.length !== 0) fail('a log entry without a RekorWitness');

  const res = await fetch(`${base}/api/v1/log/trustedRoot`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (res.status !== 200) fail(`GET ${base}/api/v1/log/trustedRoot: HTTP ${res.status}`);
  const servedJSON = await res.json();
  const options = { tlogThreshold: 0, ctlogThreshold: 1, timestampThreshold: 1 };
  const v = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(servedJSON)), options);
  // Through JSON, as a verifier receives it.
  const received = bundleFromJSON(bundleToJSON(bundle));
  const entity = toSignedEntity(received, artifact);
  const policy = { subjectAlternativeName: exactly(identity), extensions: { issuer } };
  let verified;
  try {
    verified = v.verify(entity, policy);
  } catch (err) {
    fail(`@sigstore/verify rejected the timestamped bundle: ${err.code ?? ''} ${err.message}`);
  }
  refuses(v, entity, { ...policy, subjectAlternativeName: exactly(`other-${identity}`) }, 'another identity');
  refuses(v, toSignedEntity(received, Buffer.concat([artifact, Buffer.from('!')])), policy, 'another artifact');
  const altered = bundleToJSON(bundle);
  const token64 = Buffer.from(altered.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp, 'base64');
  token64[token64.length - 3] ^= 1; // inside the CMS signature, the last element
  altered.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp = token64.toString('base64');
  refuses(v, toSignedEntity(bundleFromJSON(altered), artifact), policy, 'an altered timestamp');
  const noTsa = new Verifier(toTrustMaterial(TrustedRoot.fromJSON({ ...servedJSON, timestampAuthorities: [] })), options);
  refuses(noTsa, entity, policy, 'a trusted root without the TSA');

  const rootFromTuf = await getTrustedRoot({ mirrorURL: `${base}/tuf`, rootPath: tufRoot, cachePath: cacheDir, forceInit: true });
  const fromTuf = new Verifier(toTrustMaterial(rootFromTuf), options);
  try {
    fromTuf.verify(entity, policy);
  } catch (err) {
    fail(`the trusted root from TUF did not verify the bundle: ${err.code ?? ''} ${err.message}`);
  }
  if (JSON.stringify(TrustedRoot.toJSON(rootFromTuf)) !== JSON.stringify(TrustedRoot.toJSON(TrustedRoot.fromJSON(servedJSON)))) {
    fail('the trusted root from TUF is not the one the log serves');
  }
  const v2Witnesses = [
    new RekorWitness({ rekorBaseURL: base, majorApiVersion: 2, timeout: TIMEOUT_MS, retry: 0 }),
    new TSAWitness({ tsaBaseURL: base, timeout: TIMEOUT_MS, retry: 0 }),
  ];
  const v2Artifact = crypto.randomBytes(64);
  const v2Bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: v2Witnesses }).create({ data: v2Artifact });
  const v2Entries = v2Bundle.verificationMaterial.tlogEntries;
  if (v2Entries.length !== 1 || v2Entries[0].kindVersion?.version !== '0.0.2') {
    fail(`expected one Rekor v2 (hashedrekord 0.0.2) entry, got ${JSON.stringify(v2Entries.map((e) => e.kindVersion))}`);
  }
  if ((v2Bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? []).length !== 1) {
    fail('expected one RFC 3161 timestamp beside the Rekor v2 entry');
  }
  const all = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(servedJSON)), { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
  const v2Entity = toSignedEntity(bundleFromJSON(bundleToJSON(v2Bundle)), v2Artifact);
  try {
    all.verify(v2Entity, policy);
  } catch (err) {
    fail(`@sigstore/verify rejected the Rekor v2 bundle with its timestamp: ${err.code ?? ''} ${err.message}`);
  }
  refuses(all, v2Entity, { ...policy, subjectAlternativeName: exactly(`other-${identity}`) }, 'another identity (Rekor v2)');
  refuses(all, toSignedEntity(bundleFromJSON(bundleToJSON(v2Bundle)), crypto.randomBytes(64)), policy, 'another artifact (Rekor v2)');
  process.stdout.write(`${JSON.stringify({
    ok: true,
    rekorV2Index: Number(v2Entries[0].logIndex ?? 0),
    san: verified.identity?.subjectAlternativeName,
    timestamps: timestamps.length,
    tufRootTsas: rootFromTuf.timestampAuthorities.length,
  })}\n`);
} catch (err) {
  fail(`${err?.name}: ${err?.message}${err?.cause ? ` (${err.cause})` : ''}`);
}
