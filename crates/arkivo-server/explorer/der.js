// Just enough DER (X.690 §8, §10) to show what a signer's certificate says and to hand ECDSA
// signatures to WebCrypto. It reads; it trusts nothing: verification uses WebCrypto alone.

/** One TLV at `at`: {tag, start (of the value), end}. */
function tlv(bytes, at) {
  const tag = bytes[at];
  let len = bytes[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[start + i];
    start += n;
  }
  const end = start + len;
  if (tag === undefined || end > bytes.length) throw new Error('truncated DER');
  return { tag, start, end, bytes };
}

/** The TLVs inside a constructed value. */
function children(node) {
  const out = [];
  for (let at = node.start; at < node.end; ) {
    const c = tlv(node.bytes, at);
    out.push(c);
    at = c.end;
  }
  return out;
}

const value = (n) => n.bytes.subarray(n.start, n.end);
const text = (n) => new TextDecoder().decode(value(n));

function oid(n) {
  const v = value(n);
  const parts = [Math.floor(v[0] / 40), v[0] % 40];
  let acc = 0;
  for (const b of v.subarray(1)) {
    acc = acc * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(acc);
      acc = 0;
    }
  }
  return parts.join('.');
}

/** An ECDSA signature as DER `SEQUENCE {r, s}` (RFC 3279 §2.2.3) → the fixed-width r ‖ s
 * WebCrypto verifies (`width` bytes each: 32 for P-256). */
export function ecdsaDerToRaw(der, width = 32) {
  const seq = tlv(der, 0);
  if (seq.tag !== 0x30 || seq.end !== der.length) throw new Error('not a DER ECDSA signature');
  const ints = children(seq);
  if (ints.length !== 2 || ints.some((i) => i.tag !== 0x02)) throw new Error('not a DER ECDSA signature');
  const out = new Uint8Array(2 * width);
  ints.forEach((i, k) => {
    let v = value(i);
    while (v.length > width && v[0] === 0) v = v.subarray(1);
    if (v.length > width) throw new Error('ECDSA integer too long');
    out.set(v, (k + 1) * width - v.length);
  });
  return out;
}

const NAMES = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C', '1.2.840.113549.1.9.1': 'emailAddress' };

function distinguishedName(n) {
  return children(n)
    .flatMap((rdn) => children(rdn))
    .map((atv) => {
      const [type, v] = children(atv);
      return `${NAMES[oid(type)] || oid(type)}=${text(v)}`;
    })
    .join(', ');
}

function time(n) {
  const s = text(n);
  const full = n.tag === 0x17 ? (Number(s.slice(0, 2)) < 50 ? '20' : '19') + s : s;
  return `${full.slice(0, 4)}-${full.slice(4, 6)}-${full.slice(6, 8)}T${full.slice(8, 10)}:${full.slice(10, 12)}:${full.slice(12, 14)}Z`;
}

/** The Fulcio certificate extensions (github.com/sigstore/fulcio docs/oid-info.md): OID arc
 * 1.3.6.1.4.1.57264.1.N → name. N = 1..6 hold raw strings (deprecated), 8 and up DER UTF8String. */
const FULCIO = {
  1: 'Issuer (v1)', 2: 'GitHub Workflow Trigger', 3: 'GitHub Workflow SHA', 4: 'GitHub Workflow Name',
  5: 'GitHub Workflow Repository', 6: 'GitHub Workflow Ref', 8: 'Issuer', 9: 'Build Signer URI',
  10: 'Build Signer Digest', 11: 'Runner Environment', 12: 'Source Repository URI',
  13: 'Source Repository Digest', 14: 'Source Repository Ref', 15: 'Source Repository Identifier',
  16: 'Source Repository Owner URI', 17: 'Source Repository Owner Identifier', 18: 'Build Config URI',
  19: 'Build Config Digest', 20: 'Build Trigger', 21: 'Run Invocation URI', 22: 'Source Repository Visibility At Signing',
};

/** What a page shows of an X.509 certificate (RFC 5280 §4.1): subject, issuer, validity, the
 * subject alternative names (the signer's identity, §4.2.1.6) and the Fulcio extensions. */
export function describeCertificate(der) {
  const [tbs] = children(tlv(der, 0));
  let fields = children(tbs);
  if (fields[0].tag === 0xa0) fields = fields.slice(1); // [0] version
  const [, , issuer, validity, subject, , ...rest] = fields;
  const [notBefore, notAfter] = children(validity).map(time);
  const cert = { subject: distinguishedName(subject), issuer: distinguishedName(issuer), notBefore, notAfter, identities: [], fulcio: [] };
  const extensions = rest.find((n) => n.tag === 0xa3);
  for (const ext of extensions ? children(children(extensions)[0]) : []) {
    const parts = children(ext);
    const id = oid(parts[0]);
    const octets = parts[parts.length - 1];
    if (id === '2.5.29.17') {
      for (const name of children(tlv(value(octets), 0))) {
        if (name.tag === 0x81) cert.identities.push({ kind: 'email', value: text(name) });
        if (name.tag === 0x86) cert.identities.push({ kind: 'URI', value: text(name) });
        if (name.tag === 0xa0) {
          // otherName (RFC 5280 §4.2.1.6): Fulcio puts a username SAN there as UTF8String.
          const inner = children(name);
          const v = inner[1] && children(inner[1])[0];
          if (v) cert.identities.push({ kind: 'other name', value: text(v) });
        }
      }
    }
    const arc = id.match(/^1\.3\.6\.1\.4\.1\.57264\.1\.(\d+)$/);
    if (arc) {
      const n = Number(arc[1]);
      const v = value(octets);
      const shown = n <= 6 ? new TextDecoder().decode(v) : text(tlv(v, 0));
      cert.fulcio.push({ name: FULCIO[n] || `1.3.6.1.4.1.57264.1.${n}`, value: shown });
    }
  }
  return cert;
}

/** The DER of the first PEM block of `pem` with this label, or null. */
export function pemBlock(pem, label) {
  const m = pem.match(new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`));
  return m ? Uint8Array.from(atob(m[1].replace(/\s+/g, '')), (c) => c.charCodeAt(0)) : null;
}
