// The public read API of the log (docs/rekor-v1-api.md, docs/tiles-checkpoints-witnesses.md):
// nothing else, so the explorer works against a mirror or behind the read cache too.

/** A failed request, with the server's message when it sent one. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(path, init) {
  const res = await fetch(path, init);
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.message) message = `${res.status}: ${body.message}`;
    } catch { /* not JSON: keep the status line */ }
    throw new ApiError(res.status, message);
  }
  return res;
}

async function getJSON(path) {
  return (await request(path)).json();
}

async function postJSON(path, body) {
  const res = await request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { body: await res.json(), truncated: res.headers.get('X-Arkivo-Search-Truncated') };
}

/** `{uuid: entry}` → `[{uuid, ...entry}]`. */
function entries(answer) {
  return Object.entries(answer).map(([uuid, e]) => ({ uuid, ...e }));
}

export const logInfo = () => getJSON('/api/v1/log');

export async function publicKeyPEM(treeID) {
  const q = treeID === undefined ? '' : `?treeID=${encodeURIComponent(treeID)}`;
  return (await request(`/api/v1/log/publicKey${q}`)).text();
}

export const trustedRoot = () => getJSON('/api/v1/log/trustedRoot');

export async function entryByIndex(index) {
  return entries(await getJSON(`/api/v1/log/entries?logIndex=${index}`))[0];
}

export async function entryByUUID(uuid) {
  return entries(await getJSON(`/api/v1/log/entries/${encodeURIComponent(uuid)}`))[0];
}

/** Most UUIDs one retrieve request may name (the server's limit: 422 beyond it). */
const RETRIEVE_ITEMS = 10;

/** The entries with these UUIDs (§3.3 retrieve), in requests of at most `RETRIEVE_ITEMS`. */
export async function entriesByUUID(uuids) {
  const chunks = [];
  for (let i = 0; i < uuids.length; i += RETRIEVE_ITEMS) chunks.push(uuids.slice(i, i + RETRIEVE_ITEMS));
  const answers = await Promise.all(chunks.map((c) => postJSON('/api/v1/log/entries/retrieve', { entryUUIDs: c })));
  return answers.flatMap(({ body }) => body.flatMap(entries));
}

/** Entry UUIDs matching one search term (§3.8), newest first; `truncated` when cut. */
export async function searchIndex(query) {
  const { body, truncated } = await postJSON('/api/v1/index/retrieve', query);
  return { uuids: body, truncated: truncated !== null };
}

/**
 * The log's current checkpoint. The server lets caches keep it for two seconds; `no-cache`
 * makes the browser revalidate it (a 304 when it has not moved) so that the log page always
 * compares against the newest one.
 */
export async function checkpointText() {
  return (await request('/checkpoint', { cache: 'no-cache' })).text();
}

export function consistencyProof(firstSize, lastSize, treeID) {
  const tree = treeID === undefined ? '' : `&treeID=${encodeURIComponent(treeID)}`;
  return getJSON(`/api/v1/log/proof?firstSize=${firstSize}&lastSize=${lastSize}${tree}`);
}
