// sigstore-js's command-line client (@sigstore/cli) attesting keyless against a running Arkivo:
//
//   node sigstore-cli.mjs <baseUrl> <idToken> <identity> <issuer> <tufRoot.json> <workDir>
//
// 1. `sigstore attest` signs an in-toto statement (DSSE, payload type application/vnd.in-toto+json)
//    with a certificate from <baseUrl>'s CA (Fulcio API), records an `intoto` 0.0.2 entry through
//    the Rekor v1 API and gets an RFC 3161 timestamp from <baseUrl>'s TSA. The CLI has no flag for
//    an ID token: with CI set it takes SIGSTORE_ID_TOKEN (its CI identity provider).
// 2. @sigstore/verify verifies the bundle the CLI wrote against the trusted root the log serves
//    (tlog 1, ctlog 1, timestamps 1) for <identity> and <issuer>; it refuses another identity,
//    another issuer and an altered payload (the log entry's payload hash no longer matches).
// The statement's subject is <workDir>/artifact.bin (random bytes) and the bundle is written to
// <workDir>/bundle.json, for the caller to verify with `arkivo verify-blob-attestation`.
// 3. `sigstore verify`, bootstrapped from <tufRoot.json> with <baseUrl>/tuf as its TUF mirror,
//    verifies the bundle for <identity> and refuses it for another identity.
//
// Prints one JSON line on stdout; exits 1 with a message on stderr when a check fails, 2 for a
// usage error.

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import crypto from 'node:crypto';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { check, describe, failOnErrors, progress, verifies } from './checks.mjs';

const TIMEOUT_MS = 120_000;
const CLI = join(import.meta.dirname, 'node_modules', '@sigstore', 'cli', 'bin', 'run');

const [base, token, identity, issuer, tufRoot, workDir] = process.argv.slice(2);
if (!workDir) {
  process.stderr.write('usage: node sigstore-cli.mjs <baseUrl> <idToken> <identity> <issuer> <tufRoot.json> <workDir>\n');
  process.exit(2);
}
const die = failOnErrors('sigstore-cli', TIMEOUT_MS);

// Runs the CLI; resolves to { code, stdout, stderr }.
function sigstore(args, env = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// sigstore-js treats the identity as a regular expression: anchor and escape it for an exact match.
const exactly = (s) => `^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

// `verify` must throw an error with `code` (a PolicyError for a policy mismatch, which is not a
// VerificationError) and a message matching `pattern`.
function refused(what, code, pattern, verify) {
  progress.negativeChecks++;
  try {
    verify();
  } catch (err) {
    check(err.code === code && pattern.test(err.message), `${what}: expected ${code} matching ${pattern}, got ${describe(err)}`);
    return;
  }
  check(false, `@sigstore/verify accepted the bundle for ${what}`);
}

async function main() {
  progress.step = 'sigstore attest';
  // The statement is about <workDir>/artifact.bin, for `arkivo verify-blob-attestation`.
  const artifact = crypto.randomBytes(64);
  writeFileSync(join(workDir, 'artifact.bin'), artifact);
  const digest = crypto.createHash('sha256').update(artifact).digest('hex');
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'artifact.bin', digest: { sha256: digest } }],
    predicateType: 'https://arkivo.example/attestation/v1',
    predicate: { built: true },
  };
  const payloadFile = join(workDir, 'statement.json');
  const bundleFile = join(workDir, 'bundle.json');
  writeFileSync(payloadFile, JSON.stringify(statement));
  const attest = await sigstore(
    ['attest', payloadFile, '--payload-type', 'application/vnd.in-toto+json', '--fulcio-url', base, '--rekor-url', base,
      '--tsa-server-url', base, '--timeout', '30', '--output-file', bundleFile],
    { CI: 'true', SIGSTORE_ID_TOKEN: token },
  );
  check(attest.code === 0, `sigstore attest exited ${attest.code}:\n${attest.stderr}${attest.stdout}`);
  const json = JSON.parse(readFileSync(bundleFile, 'utf8'));
  const tlog = json.verificationMaterial.tlogEntries;
  check(tlog.length === 1, `expected one tlog entry, got ${tlog.length}`);
  const kind = tlog[0].kindVersion;
  check(kind.kind === 'intoto' && kind.version === '0.0.2', `expected an intoto 0.0.2 entry, got ${JSON.stringify(kind)}`);
  check(json.dsseEnvelope?.payloadType === 'application/vnd.in-toto+json', 'the bundle carries no in-toto DSSE envelope');
  check(Buffer.from(json.dsseEnvelope.payload, 'base64').toString() === JSON.stringify(statement), 'the envelope does not carry the statement');
  const timestamps = json.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? [];
  check(timestamps.length === 1, `expected one RFC 3161 timestamp, got ${timestamps.length}`);
  check(/Created entry at index \d+/.test(attest.stderr), `sigstore attest did not report the entry: ${attest.stderr}`);

  progress.step = 'the logged entry';
  // proto3 JSON leaves out a zero logIndex (the first entry of a fresh log).
  const index = Number(tlog[0].logIndex ?? 0);
  const res = await fetch(`${base}/api/v1/log/entries?logIndex=${index}`, { signal: AbortSignal.timeout(30_000) });
  check(res.status === 200, `GET /api/v1/log/entries?logIndex=${index}: HTTP ${res.status}`);
  const [entry] = Object.values(await res.json());
  check(entry.body === tlog[0].canonicalizedBody, 'the logged body is not the bundle\'s canonicalized body');

  progress.step = '@sigstore/verify';
  const rootRes = await fetch(`${base}/api/v1/log/trustedRoot`, { signal: AbortSignal.timeout(30_000) });
  check(rootRes.status === 200, `GET /api/v1/log/trustedRoot: HTTP ${rootRes.status}`);
  const v = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(await rootRes.json())),
    { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
  const bundle = bundleFromJSON(json);
  const entity = toSignedEntity(bundle);
  const policy = { subjectAlternativeName: exactly(identity), extensions: { issuer } };
  const signer = verifies('the CLI\'s bundle', () => v.verify(entity, policy));
  check(signer.identity?.subjectAlternativeName === identity, `signer identity ${signer.identity?.subjectAlternativeName}`);
  refused('another identity', 'UNTRUSTED_SIGNER_ERROR', /identity/,
    () => v.verify(entity, { ...policy, subjectAlternativeName: exactly(`other-${identity}`) }));
  refused('another issuer', 'UNTRUSTED_SIGNER_ERROR', /extension|issuer/,
    () => v.verify(entity, { ...policy, extensions: { issuer: `${issuer}/other` } }));
  const altered = structuredClone(json);
  altered.dsseEnvelope.payload = Buffer.from(JSON.stringify({ ...statement, predicate: { built: false } })).toString('base64');
  refused('an altered payload', 'TLOG_BODY_ERROR', /payload hash mismatch/, () => v.verify(toSignedEntity(bundleFromJSON(altered)), policy));

  progress.step = 'sigstore verify';
  const tufArgs = ['--tuf-mirror-url', `${base}/tuf`, '--tuf-root-path', tufRoot, '--tuf-cache-path', join(workDir, 'tuf-cache')];
  const ok = await sigstore(['verify', bundleFile, ...tufArgs, '--certificate-issuer', issuer, '--certificate-identity-email', identity]);
  check(ok.code === 0 && /Verification succeeded/.test(ok.stderr), `sigstore verify exited ${ok.code}:\n${ok.stderr}${ok.stdout}`);
  progress.negativeChecks++;
  const other = await sigstore(['verify', bundleFile, ...tufArgs, '--tuf-force-cache', '--certificate-issuer', issuer,
    '--certificate-identity-email', `other-${identity}`]);
  check(other.code !== 0, 'sigstore verify accepted the bundle for another identity');
  check(/certificate identity error/.test(other.stderr), `sigstore verify refused another identity for another reason:\n${other.stderr}`);

  process.stdout.write(`${JSON.stringify({
    kind: kind.kind, version: kind.version, logIndex: index, timestamps: timestamps.length,
    san: signer.identity.subjectAlternativeName, checks: progress.checks, negativeChecks: progress.negativeChecks,
  })}\n`);
}

main().catch(die);
