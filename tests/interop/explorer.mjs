// Drives the web explorer of a running Arkivo server in headless Chromium (puppeteer-core on
// the system's /usr/bin/chromium): every search kind finds its entries, the entry page shows the
// entry's fields and verifies it, answers tampered by a proxy show as NOT verified, the log page
// verifies the checkpoint and the consistency between two visits. Writes screenshots.
//
// Usage: node explorer.mjs <plan.json>; the plan (written by tests/explorer.rs) names the
// server, the two tampering proxies, the entries and the screenshot directory.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const browser = await puppeteer.launch({
  executablePath: plan.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
});
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const page = await browser.newPage();
await page.setViewport({ width: 1100, height: 900 });
// A violation of the Content-Security-Policy, or any script error, fails the run; so does a
// failed request, but for the 404 of looking up 64 hex digits as an entry UUID too.
page.on('console', (m) => {
  const lookup = m.text().startsWith('Failed to load resource') && m.location().url?.includes('/api/v1/log/entries/');
  if (m.type() === 'error' && !lookup) failures.push(`console error: ${m.text()} (${m.location().url})`);
});
page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));

/** Logs one more hashedrekord (a new key's signature of a new artifact), so the tree grows. */
async function logOneMore() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const artifact = Buffer.from(`one more, at ${Date.now()}`);
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  const res = await fetch(`${plan.base}/api/v1/log/entries`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      apiVersion: '0.0.1', kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(artifact).digest('hex') } },
        signature: { content: sign('sha256', artifact, privateKey).toString('base64'), publicKey: { content: Buffer.from(pem).toString('base64') } },
      },
    }),
  });
  check(res.status === 201, `one more entry logged (${res.status})`);
}

async function open(url) {
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready=true]', { timeout: 20000 });
}
const shot = (name) => page.screenshot({ path: join(plan.screenshots, `${name}.png`) });
const text = (sel) => page.$eval(sel, (e) => e.innerText);
const resultUUIDs = () => page.$$eval('table.results tbody a', (as) => as.map((a) => a.getAttribute('href').split('/').pop()));

// The front page lists the newest entries.
await open(`${plan.base}/`);
check((await resultUUIDs()).length === Math.min(10, plan.total), 'the front page lists the newest entries');
await shot('recent');

// Each search kind, typed into the box with the keyboard, finds exactly its entries.
for (const s of plan.searches) {
  await open(`${plan.base}/`);
  await page.focus('#q');
  await page.keyboard.type(s.q);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  await page.waitForSelector('body[data-ready=true]');
  const found = await resultUUIDs();
  const heading = await text('h1');
  check(JSON.stringify([...found].sort()) === JSON.stringify([...s.expect].sort()) && heading.includes(s.kind),
    `search by ${s.kind} (${s.q.slice(0, 40)}…): ${heading}; found ${found.length}, expected ${s.expect.length}`);
  if (s.screenshot) await shot(s.screenshot);
}

// A search is a link: the address alone gives the same results.
const linked = plan.searches[0];
await open(`${plan.base}/?q=${encodeURIComponent(linked.q)}`);
check((await resultUUIDs()).length === linked.expect.length, 'a search by address (?q=) gives its results');

// Paging: the index has more entries of the paging key than one page holds.
await open(`${plan.base}/?q=${encodeURIComponent(plan.paging.q)}`);
const first = await resultUUIDs();
await Promise.all([page.waitForNavigation(), page.click('a[rel=next]')]);
await page.waitForSelector('body[data-ready=true]');
const second = await resultUUIDs();
check(first.length === 20 && second.length === plan.paging.total - 20 && !second.some((u) => first.includes(u)),
  `paged results: ${first.length} then ${second.length} of ${plan.paging.total}`);

// Each entry's page shows its fields and verifies it.
for (const e of plan.entries) {
  await open(`${plan.base}/ui/entry/${e.uuid}`);
  await page.waitForSelector('#verification[data-verified]');
  const body = await text('main');
  const verified = await page.$eval('#verification', (s) => s.dataset.verified);
  check(verified === 'true', `entry ${e.name} verifies: ${(await text('#verification')).replace(/\n/g, ' | ').slice(0, 300)}`);
  for (const want of e.shows) check(body.includes(want), `entry ${e.name} shows ${want}`);
  if (e.screenshot) await shot(e.screenshot);
}

// Answers changed on the way never show as verified, and say which step failed.
for (const t of plan.tampered) {
  await open(`${t.base}/ui/entry/${t.uuid}`);
  await page.waitForSelector('#verification[data-verified]');
  const verified = await page.$eval('#verification', (s) => s.dataset.verified);
  const failed = await page.$$eval('#verification li[data-ok=false]', (l) => l.map((x) => x.innerText));
  check(verified === 'false' && failed.length === 1 && failed[0].includes(t.failsAt),
    `${t.name}: not verified, failing at ${t.failsAt}: ${failed.join(' / ')}`);
  if (t.screenshot) await shot(t.screenshot);
}

// The log page verifies the checkpoint; a second visit after more entries checks consistency.
await open(`${plan.base}/ui/log`);
check(await page.$eval('#checkpoint', (s) => s.dataset.verified) === 'true', 'the log page verifies the checkpoint');
await logOneMore();
await open(`${plan.base}/ui/log`);
const consistency = await page.$eval('#checkpoint [data-ok]', (s) => [s.dataset.ok, s.innerText]).catch(() => ['missing', '']);
check(consistency[0] === 'true', `the second visit checks consistency: ${consistency[1]}`);
check((await page.$$('svg.chart circle')).length === 2, 'the chart shows the two checkpoints seen');
await shot('log');

// Through a proxy that changes consistency proofs, the second visit says NOT consistent.
await open(`${plan.forked}/ui/log`);
check(await page.$eval('#checkpoint', (s) => s.dataset.verified) === 'true', 'the first visit through the forking proxy verifies');
await logOneMore();
await open(`${plan.forked}/ui/log`);
const forked = await page.$eval('#checkpoint', (s) => [s.dataset.verified, s.querySelector('h2').innerText]);
check(forked[0] === 'false' && forked[1].includes('NOT consistent'), `a changed consistency proof: ${forked[1]}`);

// A phone.
await page.setViewport({ width: 390, height: 844, isMobile: true, deviceScaleFactor: 1 });
await open(`${plan.base}/ui/entry/${plan.entries[0].uuid}`);
await page.waitForSelector('#verification[data-verified]');
await shot('entry-phone');

await browser.close();
if (failures.length) {
  console.error(`${failures.length} failure(s):\n${failures.join('\n')}`);
  process.exit(1);
}
console.log('explorer: all checks passed');
