// The explorer's pages, chosen by the address: `/` (recent entries, or a search with `?q=`),
// `/ui/entry/<uuid>` (an entry, verified), `/ui/log` (the log's checkpoints and shards).
import * as api from './api.js';
import { decodeBody, identities, verifyEntry } from './entry.js';
import { fromHex, hex, rootsFromConsistencyProof } from './merkle.js';
import { parseCheckpoint, parseNote, verifyEd25519Note } from './note.js';
import * as v from './views.js';

const { el } = v;

const PAGE_SIZE = 20;
const RECENT = 10;

/** What a search box term is, and the lookups that answer it (the API's index keys: §3.8). */
export function classify(q) {
  const t = q.trim();
  if (/^\d+$/.test(t)) return { kind: 'log index', lookups: [{ index: Number(t) }] };
  if (/^[0-9a-f]{80}$/i.test(t)) return { kind: 'entry UUID', lookups: [{ uuid: t.toLowerCase() }] };
  if (/^sha256:[0-9a-f]{64}$/i.test(t)) return { kind: 'digest', lookups: [{ search: { hash: t.toLowerCase() } }] };
  // 64 hex digits are an artifact's SHA-256 or an entry UUID without its tree ID: both asked.
  if (/^[0-9a-f]{64}$/i.test(t)) {
    const h = t.toLowerCase();
    return { kind: 'digest or entry UUID', lookups: [{ search: { hash: `sha256:${h}` } }, { uuid: h }] };
  }
  if (/^(?:(?:sha1:)?[0-9a-f]{40}|(?:sha512:)?[0-9a-f]{128})$/i.test(t)) return { kind: 'digest', lookups: [{ search: { hash: t.toLowerCase() } }] };
  const pem = t.match(/^-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----$/);
  if (pem) return { kind: 'public key', lookups: [{ search: { publicKey: { format: 'x509', content: btoa(canonicalPEM(pem[1])) } } }] };
  if (/^[^\s@]+@[^\s@]+$/.test(t)) return { kind: 'email', lookups: [{ search: { email: t } }] };
  return { kind: 'certificate identity', lookups: [{ search: { subject: t } }] };
}

/** A PEM public key again from its base64, however its lines were broken (a search box keeps
 * no line breaks; RFC 7468 §2: 64 characters a line). */
function canonicalPEM(b64) {
  const lines = b64.replace(/\s+/g, '').match(/.{1,64}/g) || [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join('\n')}\n-----END PUBLIC KEY-----\n`;
}

/** A row of a results table, from an entry. */
function row(entry) {
  const d = decodeBody(entry.body);
  const ids = d.signers.flatMap(identities).map((i) => i.value);
  const identity = ids.length ? ids.join(', ') : d.signers.length ? 'public key' : '';
  return { uuid: entry.uuid, logIndex: entry.logIndex, kind: d.kind, integratedTime: entry.integratedTime, identity, digest: d.digests[0] };
}

/** Every matching entry UUID of a term, newest first, without duplicates. */
async function find(q) {
  const { kind, lookups } = classify(q);
  const uuids = [];
  let truncated = false;
  const entries = new Map();
  for (const l of lookups) {
    try {
      if (l.search) {
        const r = await api.searchIndex(l.search);
        uuids.push(...r.uuids);
        truncated ||= r.truncated;
      } else {
        const e = l.uuid ? await api.entryByUUID(l.uuid) : await api.entryByIndex(l.index);
        entries.set(e.uuid, e);
        uuids.push(e.uuid);
      }
    } catch (e) {
      if (e.status !== 404) throw e;
    }
  }
  return { kind, uuids: [...new Set(uuids)], truncated, entries };
}

async function searchPage(q, page) {
  document.getElementById('q').value = q;
  const { kind, uuids, truncated, entries } = await find(q);
  const pages = Math.max(1, Math.ceil(uuids.length / PAGE_SIZE));
  const slice = uuids.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const missing = slice.filter((u) => !entries.has(u));
  if (missing.length) for (const e of await api.entriesByUUID(missing)) entries.set(e.uuid, e);
  const rows = slice.map((u) => entries.get(u)).filter(Boolean).map(row);
  v.show(`Search: ${kind}`,
    el('p', { class: 'summary' }, `${uuids.length} ${uuids.length === 1 ? 'entry' : 'entries'} for `, v.code(q), truncated ? ' (only the newest: narrow the search)' : ''),
    rows.length ? v.resultsTable(rows) : v.message('info', 'No entry matches.'),
    pages > 1 ? v.pager(q, page, pages) : null);
}


async function recentPage() {
  const info = await api.logInfo();
  const total = info.treeSize + (info.inactiveShards || []).reduce((n, s) => n + s.treeSize, 0);
  const indices = [];
  for (let i = total - 1; i >= 0 && indices.length < RECENT; i--) indices.push(i);
  const entries = await Promise.all(indices.map((i) => api.entryByIndex(i)));
  v.show('Recent entries',
    el('p', { class: 'summary' }, `The log holds ${total} ${total === 1 ? 'entry' : 'entries'}; the newest:`),
    entries.length ? v.resultsTable(entries.map(row)) : v.message('info', 'The log is empty.'));
}

/** The tree ID in an 80-hex-digit entry UUID (its first 16 digits), in decimal; undefined
 * for a bare leaf hash (the active tree's). */
const treeIDOf = (uuid) => (uuid.length === 80 ? BigInt(`0x${uuid.slice(0, 16)}`).toString() : undefined);

function signerView(s, n) {
  const items = [['Signature', v.code(s.signature)]];
  if (s.certificate) {
    const c = s.certificate;
    items.push(
      ['Identity', c.identities.length ? el('ul', {}, c.identities.map((i) => el('li', {}, `${i.kind}: `, v.searchLink(i.value)))) : 'none'],
      ['Subject', c.subject || '(empty)'], ['Certificate issuer', c.issuer],
      ['Valid', `${c.notBefore} to ${c.notAfter}`],
      ...c.fulcio.map((f) => [f.name, f.value]));
  } else if (s.pem) {
    items.push(['Public key', el('pre', {}, s.pem)], ['Other entries', v.searchLink(s.pem.trim(), 'entries signed with this key')]);
  } else if (s.error) {
    items.push(['Certificate', s.error]);
  }
  return el('section', { 'aria-labelledby': `signer-${n}` }, el('h3', { id: `signer-${n}` }, `Signer ${n + 1}: ${s.kind}`), v.dl(items));
}

async function entryPage(uuid) {
  const entry = await api.entryByUUID(uuid);
  const d = decodeBody(entry.body);
  const proof = entry.verification.inclusionProof;
  v.show(`Entry ${entry.logIndex}`,
    v.dl([
      ['Kind', `${d.kind} ${d.apiVersion}`],
      ['Entry UUID', v.code(entry.uuid)],
      ['Log index', String(entry.logIndex)],
      ['Integrated', v.time(entry.integratedTime)],
      ['Tree', `${treeIDOf(entry.uuid) ?? 'active'}: leaf ${proof.logIndex} of ${proof.treeSize}`],
      ['Digest', d.digests.length ? el('ul', {}, d.digests.map((x) => el('li', {}, v.searchLink(x)))) : null],
      ['Payload type', d.payloadType],
    ]),
    d.signers.map(signerView),
    el('section', { id: 'verification', 'aria-busy': 'true' }, el('h2', {}, 'Verifying…')),
    el('details', {}, el('summary', {}, 'Body as logged'), el('pre', {}, JSON.stringify(d.raw, null, 2))));
  const tree = treeIDOf(entry.uuid) ?? proof.checkpoint.split('\n')[0].split(' - ').pop();
  const key = await api.publicKeyPEM(treeIDOf(entry.uuid));
  const pinned = pin(KEYS, tree, key.trim());
  const result = pinned === key.trim()
    ? await verifyEntry(entry, key)
    : { verified: false, steps: [{ name: 'Log key', ok: false, detail: `the log now serves another key for tree ${tree} than the one this browser saw first:\n${pinned}` }] };
  document.getElementById('verification').replaceWith(v.verification(result));
}

const KEYS = 'arkivo-explorer-keys';

/** The value this browser first saw under `name` in the map `store` of localStorage, recording
 * `value` if none: the log's keys are trusted on first use, and a later change is shown. */
function pin(store, name, value) {
  let all = {};
  try {
    all = JSON.parse(localStorage.getItem(store)) || {};
  } catch { /* unreadable: start again */ }
  if (!(name in all)) {
    all[name] = value;
    localStorage.setItem(store, JSON.stringify(all));
  }
  return all[name];
}

const SAMPLES = 'arkivo-explorer-checkpoints';

/** The checkpoints (size, root, time) this browser fetched of `origin`, oldest first. */
function samples(origin) {
  try {
    return (JSON.parse(localStorage.getItem(SAMPLES)) || {})[origin] || [];
  } catch {
    return [];
  }
}

function remember(origin, list) {
  const all = JSON.parse(localStorage.getItem(SAMPLES) || '{}');
  all[origin] = list.slice(-100);
  localStorage.setItem(SAMPLES, JSON.stringify(all));
}

async function logPage() {
  const [info, root, note] = await Promise.all([api.logInfo(), api.trustedRoot(), api.checkpointText()]);
  const parsed = parseNote(note);
  const cp = parseCheckpoint(parsed.text);
  const ed25519 = (root.tlogs || []).filter((t) => t.publicKey && t.publicKey.keyDetails === 'PKIX_ED25519');
  let signed = false;
  for (const t of ed25519) signed ||= await verifyEd25519Note(parsed, cp.origin, Uint8Array.from(atob(t.publicKey.rawBytes), (c) => c.charCodeAt(0)));
  const cosigners = parsed.signatures.filter((s) => s.name !== cp.origin).map((s) => s.name);
  const seen = samples(cp.origin);
  const last = seen[seen.length - 1];
  const now = { time: Date.now(), size: cp.size, root: hex(cp.rootHash) };
  // Consistency (RFC 9162 §2.1.4) from the last checkpoint this browser saw to this one: the log
  // only ever appended in between.
  let consistency = null;
  if (last && last.size > 0 && last.size < cp.size && signed) {
    const p = await api.consistencyProof(last.size, cp.size);
    try {
      const [r1, r2] = await rootsFromConsistencyProof(last.size, cp.size, fromHex(last.root), p.hashes.map(fromHex));
      consistency = hex(r1) === last.root && hex(r2) === now.root
        ? { ok: true, text: `✔ consistent: size ${last.size} (root ${last.root.slice(0, 16)}…) is a prefix of size ${cp.size}` }
        : { ok: false, text: `✘ NOT consistent: the proof from size ${last.size} leads to roots ${hex(r1)} and ${hex(r2)}` };
    } catch (e) {
      consistency = { ok: false, text: `✘ NOT consistent: ${e.message}` };
    }
  } else if (last && last.size === cp.size && last.root !== now.root) {
    consistency = { ok: false, text: `✘ NOT consistent: two roots for size ${cp.size}` };
  }
  if (signed && (consistency === null || consistency.ok)) remember(cp.origin, last && last.size === now.size ? seen : [...seen, now]);
  const history = samples(cp.origin);
  const good = signed && (consistency === null || consistency.ok);
  let heading = '✔ Checkpoint verified in your browser';
  if (!signed) heading = '✘ Checkpoint NOT verified';
  else if (!good) heading = '✘ Checkpoint signed, but NOT consistent with the last one this browser saw';
  v.show('The log',
    el('section', { id: 'checkpoint', class: good ? 'verified' : 'failed', 'data-verified': String(good) },
      el('h2', {}, heading),
      v.dl([
        ['Origin', cp.origin], ['Tree size', String(cp.size)], ['Root hash', v.code(hex(cp.rootHash))],
        ['Signature', signed ? `Ed25519, by the key the trusted root lists for ${cp.origin}` : 'no signature verifies with the trusted root\'s Ed25519 keys'],
        ['Witness cosignatures', cosigners.length ? el('ul', {}, cosigners.map((c) => el('li', {}, c))) : 'none'],
        ['Consistency', consistency ? el('span', { 'data-ok': String(consistency.ok) }, consistency.text) : 'nothing earlier to compare with'],
      ]),
      el('details', {}, el('summary', {}, 'Checkpoint as served'), el('pre', {}, note))),
    history.length > 1 ? v.sizeChart(history) : null,
    el('section', { 'aria-labelledby': 'shards-h' }, el('h2', { id: 'shards-h' }, 'Shards'),
      el('table', {}, el('thead', {}, el('tr', {}, ['Tree ID', 'State', 'Size', 'Root hash'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {},
          el('tr', {}, el('td', {}, info.treeID), el('td', {}, 'active'), el('td', {}, String(info.treeSize)), el('td', { class: 'wrap' }, v.code(info.rootHash))),
          (info.inactiveShards || []).map((s) => el('tr', {}, el('td', {}, s.treeID), el('td', {}, 'frozen'), el('td', {}, String(s.treeSize)),
            el('td', { class: 'wrap' }, v.code(s.rootHash), el('details', {}, el('summary', {}, 'final checkpoint'), el('pre', {}, s.signedTreeHead)))))))));
}

async function route() {
  const { pathname, searchParams } = new URL(location.href);
  const q = searchParams.get('q');
  const entry = pathname.match(/^\/ui\/entry\/([0-9a-fA-F]+)$/);
  try {
    if (entry) await entryPage(entry[1]);
    else if (pathname === '/ui/log') await logPage();
    else if (q) await searchPage(q, Math.max(1, Number(searchParams.get('page')) || 1));
    else await recentPage();
  } catch (e) {
    v.show('Error', v.message('error', e.message));
  }
  document.body.dataset.ready = 'true';
}

route();
