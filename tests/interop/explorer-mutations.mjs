// The explorer's entry verification (the served entry.js, run by Node.js's WebCrypto) on a real
// answer of the server and on every kind of change to it: the genuine answer verifies; each
// change — of the body, the integrated time, the log ID or index, the SET, any proof hash, the
// proof's index, size or root, any byte of the checkpoint — is NOT verified.
// Usage: node explorer-mutations.mjs <entry.js> <server base URL> <entry UUID>...
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [script, base, ...uuids] = process.argv.slice(2);
const { verifyEntry } = await import(pathToFileURL(resolve(script)));

const flipB64 = (s, i) => {
  const b = Buffer.from(s, 'base64');
  b[i % b.length] ^= 1;
  return b.toString('base64');
};
const flipHex = (s, i) => s.slice(0, i) + ((parseInt(s[i], 16) ^ 1).toString(16)) + s.slice(i + 1);

/** Every change to try, as [name, entry → changed entry]. */
function mutations(e) {
  const p = e.verification.inclusionProof;
  const m = [
    ['integrated time', (x) => { x.integratedTime += 1; }],
    ['log index', (x) => { x.logIndex += 1; }],
    ['log ID', (x) => { x.logID = flipHex(x.logID, 0); }],
    ['proof index', (x) => { x.verification.inclusionProof.logIndex ^= 1; }],
    ['tree size + 1', (x) => { x.verification.inclusionProof.treeSize += 1; }],
    ['root hash', (x) => { x.verification.inclusionProof.rootHash = flipHex(p.rootHash, 5); }],
    ['a proof hash removed', (x) => { x.verification.inclusionProof.hashes.pop(); }],
    ['a proof hash added', (x) => { x.verification.inclusionProof.hashes.push('00'.repeat(32)); }],
  ];
  for (let i = 0; i < Buffer.from(e.body, 'base64').length; i += 37) m.push([`body byte ${i}`, (x) => { x.body = flipB64(e.body, i); }]);
  for (let i = 0; i < Buffer.from(e.verification.signedEntryTimestamp, 'base64').length; i++) {
    m.push([`SET byte ${i}`, (x) => { x.verification.signedEntryTimestamp = flipB64(e.verification.signedEntryTimestamp, i); }]);
  }
  p.hashes.forEach((h, k) => m.push([`proof hash ${k}`, (x) => { x.verification.inclusionProof.hashes[k] = flipHex(h, 7); }]));
  for (let i = 0; i < p.checkpoint.length; i++) {
    const c = p.checkpoint;
    const changed = c.slice(0, i) + String.fromCharCode(c.charCodeAt(i) ^ 1) + c.slice(i + 1);
    if (changed !== c) m.push([`checkpoint char ${i}`, (x) => { x.verification.inclusionProof.checkpoint = changed; }]);
  }
  return m;
}

let failures = 0;
let tried = 0;
for (const uuid of uuids) {
  const answer = await (await fetch(`${base}/api/v1/log/entries/${uuid}`)).json();
  const [[id, entry]] = Object.entries(answer);
  const genuine = { uuid: id, ...entry };
  const key = await (await fetch(`${base}/api/v1/log/publicKey`)).text();
  const ok = await verifyEntry(genuine, key);
  if (!ok.verified) {
    failures++;
    console.log(`FAIL the genuine entry ${uuid} is not verified: ${JSON.stringify(ok.steps)}`);
  }
  for (const [name, change] of mutations(genuine)) {
    const x = structuredClone(genuine);
    change(x);
    tried++;
    const r = await verifyEntry(x, key);
    if (r.verified || r.steps.filter((s) => !s.ok).length !== 1) {
      failures++;
      console.log(`FAIL ${uuid}: ${name} changed, yet ${r.verified ? 'verified' : 'no single failed step'}`);
    }
  }
}
console.log(`${tried} changed answers, ${failures} failures`);
process.exit(failures || tried === 0 ? 1 : 0);
