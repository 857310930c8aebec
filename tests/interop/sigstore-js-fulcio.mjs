// @sigstore/sign's FulcioSigner against Arkivo's certificate authority:
//
//   node sigstore-js-fulcio.mjs <baseUrl> <idToken> <expectedEmail>
//
// 1. FulcioSigner (publicKeyRequest, ECDSA, the token in the body, its challenge signed with an
//    ephemeral key) gets a certificate from <baseUrl>/api/v2/signingCert and signs a blob.
// 2. The certificate names <expectedEmail>, its key verifies the blob's signature, and it chains
//    (issuer names and signatures) through the trust bundle's intermediate to its root, which
//    the trusted root lists as the CA.
//
// Prints one JSON line of results on stdout; exits 1 naming the first failed check.

import crypto from 'node:crypto';
import { FulcioSigner } from '@sigstore/sign';

const [base, token, email] = process.argv.slice(2);
if (!email) {
  console.error('usage: node sigstore-js-fulcio.mjs <baseUrl> <idToken> <expectedEmail>');
  process.exit(2);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

try {
  const signer = new FulcioSigner({
    fulcioBaseURL: base,
    identityProvider: { getToken: async () => token },
    timeout: 30_000,
  });
  const blob = crypto.randomBytes(64);
  const signature = await signer.sign(blob);
  check(signature.key.$case === 'x509Certificate', 'a certificate as the key');
  const leaf = new crypto.X509Certificate(signature.key.certificate);
  check(leaf.subjectAltName === `email:${email}`, `SAN is ${email} (got ${leaf.subjectAltName})`);
  check(crypto.verify('sha256', blob, leaf.publicKey, signature.signature), 'the blob signature');

  const bundle = await (await fetch(`${base}/api/v2/trustBundle`)).json();
  const [intermediate, root] = bundle.chains[0].certificates.map((p) => new crypto.X509Certificate(p));
  check(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey), 'leaf issued by the intermediate');
  check(intermediate.checkIssued(root) && intermediate.verify(root.publicKey), 'intermediate issued by the root');
  check(root.verify(root.publicKey), 'a self-signed root');

  const trustedRoot = await (await fetch(`${base}/api/v1/log/trustedRoot`)).json();
  const listed = trustedRoot.certificateAuthorities[0].certChain.certificates.map((c) => c.rawBytes);
  check(listed.length === 2 && listed[1] === root.raw.toString('base64'), 'the trusted root lists the root last');

  console.log(JSON.stringify({ san: leaf.subjectAltName, serial: leaf.serialNumber }));
} catch (err) {
  console.error(err?.stack ?? String(err));
  if (err?.cause) console.error('cause:', err.cause);
  process.exit(1);
}
