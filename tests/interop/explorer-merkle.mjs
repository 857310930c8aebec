// The explorer's RFC 9162 proof checks (the very file the server serves) against the
// transparency-dev/merkle vectors in testdata/merkle: every probe must be accepted or rejected
// as its `wantErr` says. Usage: node explorer-merkle.mjs <merkle.js> <testdata/merkle>.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [script, vectors] = process.argv.slice(2);
const { rootFromInclusionProof, rootsFromConsistencyProof } = await import(pathToFileURL(resolve(script)));

const bytes = (s) => Uint8Array.from(Buffer.from(s || '', 'base64'));
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const files = (dir) => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? files(p) : p.endsWith('.json') ? [p] : [];
});

async function inclusion(v) {
  const root = bytes(v.root);
  if (root.length !== 32) throw new Error('root is not 32 bytes');
  const got = await rootFromInclusionProof(v.leafIdx, v.treeSize, bytes(v.leafHash), (v.proof || []).map(bytes));
  if (!eq(got, root)) throw new Error('root mismatch');
}

async function consistency(v) {
  // Equal sizes compare the roots as given (upstream's semantics); else merkle.js checks lengths.
  const [root1, root2] = [bytes(v.root1), bytes(v.root2)];
  const [r1, r2] = await rootsFromConsistencyProof(v.size1, v.size2, root1, (v.proof || []).map(bytes));
  if (!eq(r1, root1) || !eq(r2, root2)) throw new Error('root mismatch');
}

let failures = 0;
let count = 0;
for (const [kind, check] of [['inclusion', inclusion], ['consistency', consistency]]) {
  for (const file of files(join(vectors, kind))) {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    let err = null;
    try {
      await check(v);
    } catch (e) {
      err = e;
    }
    count++;
    if ((err !== null) !== v.wantErr) {
      failures++;
      console.log(`FAIL ${file} (${v.desc}): wantErr ${v.wantErr}, got ${err ? err.message : 'ok'}`);
    }
  }
}
console.log(`${count} probes, ${failures} failures`);
process.exit(failures || count < 196 ? 1 : 0);
