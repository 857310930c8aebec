// RFC 6962 §2.1 hashing and the proof checks of RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
// (consistency), with SHA-256 from WebCrypto. Each check returns the root it computed, so the
// page can show it beside the root it was given.

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

export function fromHex(s) {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error(`not hex: ${s.slice(0, 20)}`);
  return Uint8Array.from(s.match(/../g) || [], (b) => parseInt(b, 16));
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** MTH of one leaf: SHA-256(0x00 ‖ leaf) (RFC 6962 §2.1). */
export const leafHash = (leaf) => sha256(concat([0], leaf));

/** An interior node: SHA-256(0x01 ‖ left ‖ right) (RFC 6962 §2.1). */
const nodeHash = (left, right) => sha256(concat([1], left, right));

function checkHashes(hashes) {
  if (hashes.some((h) => h.length !== 32)) throw new Error('a hash is not 32 bytes');
}

/** The root that `proof` leads to from the leaf hash at `index` of a tree of `size` (RFC 9162
 * §2.1.3.2); throws when the proof has the wrong length for that position. */
export async function rootFromInclusionProof(index, size, leaf, proof) {
  if (index >= size) throw new Error(`index ${index} is not below the tree size ${size}`);
  checkHashes([leaf, ...proof]);
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new Error('the proof is longer than the path to the root');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the proof is shorter than the path to the root');
  return r;
}

/** The two roots that `proof` leads to, of the trees of `size1` and `size2` (RFC 9162
 * §2.1.4.2), given the first tree's root (which the verification starts from when `size1` is a
 * power of two). */
export async function rootsFromConsistencyProof(size1, size2, root1, proof) {
  if (size1 > size2) throw new Error(`size ${size1} is larger than ${size2}`);
  if (size1 === 0) throw new Error('nothing to prove from an empty tree');
  if (size1 === size2) {
    if (proof.length) throw new Error('a proof between equal sizes must be empty');
    return [root1, root1];
  }
  if (!proof.length) throw new Error('empty consistency proof');
  checkHashes([root1, ...proof]);
  const path = (size1 & (size1 - 1)) === 0 ? [root1, ...proof] : proof;
  let fn = BigInt(size1) - 1n;
  let sn = BigInt(size2) - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let [fr, sr] = [path[0], path[0]];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new Error('the proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the proof is too short');
  return [fr, sr];
}
