// What the interop scripts share: checks that fail with a message naming what failed, the
// counts of checks and of negative checks for the result line, the step a failure is reported
// in, a deadline for the whole run, and the small encodings the checks use.

import crypto from 'node:crypto';
import { VerificationError } from '@sigstore/verify';

export class CheckFailed extends Error {}

// The scripts set `progress.step` before each step and report the counts in their result line.
export const progress = { step: 'start', checks: 0, negativeChecks: 0 };

export function check(ok, what) {
  progress.checks++;
  if (!ok) throw new CheckFailed(what);
}

// An error with its code and its chain of causes, for a failure message.
export function describe(err) {
  if (!(err instanceof Error)) return String(err);
  let text = err instanceof CheckFailed ? err.message : `${err.name}: ${err.message}`;
  if (err.code) text += ` [code ${err.code}]`;
  for (let c = err.cause, depth = 0; c && depth < 4; c = c.cause, depth++) {
    text += `\n  caused by: ${c instanceof Error ? `${c.name}: ${c.message}` : String(c)}`;
    if (c.code) text += ` [code ${c.code}]`;
  }
  return text;
}

// From now on an unhandled failure, or a run longer than `timeoutMs`, exits 1 naming the step
// it happened in (and with SIGSTORE_JS_DEBUG set, the stack). Returns that exit, for the
// script's main promise.
export function failOnErrors(name, timeoutMs) {
  const die = (err) => {
    process.stderr.write(`${name} FAILED in step "${progress.step}":\n  ${describe(err)}\n`);
    if (process.env.SIGSTORE_JS_DEBUG && err instanceof Error && err.stack) {
      process.stderr.write(`${err.stack}\n`);
    }
    process.exit(1);
  };
  process.on('unhandledRejection', die);
  setTimeout(() => die(new CheckFailed(`the run took longer than ${timeoutMs / 1000} s`)), timeoutMs).unref();
  return die;
}

// Runs `verify` (a @sigstore/verify call that must succeed) and returns what it returns; a
// rejection fails the check naming `what`.
export function verifies(what, verify) {
  try {
    return verify();
  } catch (err) {
    throw new CheckFailed(`${what}: @sigstore/verify rejected the bundle: ${describe(err)}`);
  }
}

// Runs `verify` (a @sigstore/verify call that must fail) and checks that it throws a
// VerificationError with this code and a message matching `messagePattern`.
export function mustFail(what, code, messagePattern, verify) {
  progress.negativeChecks++;
  try {
    verify();
  } catch (err) {
    check(err instanceof VerificationError, `${what}: expected a VerificationError, got ${describe(err)}`);
    check(err.code === code, `${what}: expected error code ${code}, got ${err.code} (${err.message})`);
    check(messagePattern.test(err.message), `${what}: expected an error matching ${messagePattern}, got ${err.message}`);
    return;
  }
  check(false, `verification should have failed: ${what}`);
}

export const sha256 = (...parts) => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
export const b64 = (buf) => Buffer.from(buf).toString('base64');
// RFC 6962 leaf hash.
export const leafHash = (body) => sha256(Buffer.from([0]), body);

// A copy of `buf` with one bit of byte `at` flipped (negative: from the end).
export function flipBit(buf, at = -1) {
  const b = Buffer.from(buf);
  b[((at % b.length) + b.length) % b.length] ^= 0x01;
  return b;
}
export const flipB64 = (s, at = -1) => b64(flipBit(Buffer.from(s, 'base64'), at));
