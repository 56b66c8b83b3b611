// Browser tests of the staff console: real headless Chromium driven by
// playwright-core, against the real `clinic-server demo` on loopback.
//
// One server and one signed-in page are shared by the tests below, which
// run in order: sign in, see the demo's flags, watch a kiosk's flag arrive
// live and resolve it, work a co-pay and a proposed change, show a pass,
// enroll a kiosk, survive a server restart, and sign out. Kiosk activity is
// posted through the real kiosk API with a device token from enrollment.
//
// Every JSON exchange with /api/ in the run, from the page and from these
// tests, is recorded and finally checked against /openapi.json with Ajv, an
// independent JSON Schema validator.
//
// Needs: target/debug/clinic-server (or CLINIC_SERVER=path) and
// /usr/bin/chromium (or CHROMIUM=path). Screenshots go to
// target/screenshots/console-*.png.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BIN = process.env.CLINIC_SERVER || path.join(ROOT, 'target', 'debug', 'clinic-server');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'target', 'screenshots');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const VIEWPORT = { width: 1280, height: 800 };

let dataDir;
let port;
let server;
let browser;
let context;
let page;
let kioskToken;
const pageErrors = [];

// Every JSON exchange with /api/: method, path, status, request and
// response bodies. The tests' own fetch calls go through the wrapper below;
// the page's are caught from its responses.
const apiCalls = [];
function recordApiCall(method, url, status, requestBody, responseBody) {
  const { pathname } = new URL(url);
  if (pathname.startsWith('/api/')) apiCalls.push({ method: method.toUpperCase(), path: pathname, status, requestBody, responseBody });
}
const plainFetch = globalThis.fetch;
globalThis.fetch = async (url, init = {}) => {
  const res = await plainFetch(url, init);
  if ((res.headers.get('content-type') || '').startsWith('application/json')) {
    const body = await res.clone().json().catch(() => undefined);
    const sent = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    if (body !== undefined) recordApiCall(init.method || 'GET', String(url), res.status, sent, body);
  }
  return res;
};

// ------------------------------------------------------------ helpers

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
  });
}

// Starts `clinic-server demo` and reads the lines it prints.
function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ['demo', '--port', String(port), '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: 'warn' },
    });
    const info = { proc, stderr: '' };
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`clinic-server did not start in time:\n${info.stderr}`));
    }, 60_000);
    proc.stderr.on('data', (d) => {
      info.stderr += d;
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.once('exit', (code) => {
      if (!info.url) {
        clearTimeout(timer);
        reject(new Error(`clinic-server exited with ${code}:\n${info.stderr}`));
      }
    });
    const lines = readline.createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      let m;
      if ((m = line.match(/^staff login: (\S+) (\S+)$/))) {
        info.user = m[1];
        info.password = m[2];
      } else if ((m = line.match(/^enrollment code: (\S+)$/))) {
        info.code = m[1];
      } else if ((m = line.match(/^listening: (\S+)$/))) {
        info.url = m[1];
        clearTimeout(timer);
        resolve(info);
      }
    });
  });
}

async function stopServer(signal = 'SIGTERM') {
  if (!server || server.proc.exitCode !== null) return;
  const exited = new Promise((resolve) => server.proc.once('exit', resolve));
  server.proc.kill(signal);
  const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000));
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    server.proc.kill('SIGKILL');
    await exited;
    throw new Error('clinic-server did not shut down within 10 s of SIGTERM');
  }
}

async function kioskPost(pathname, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}${pathname}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = await res.json().catch(() => null);
  assert.equal(res.status, 200, `${pathname}: ${JSON.stringify(json)}`);
  return json;
}

async function kioskEvents(...events) {
  const res = await kioskPost('/api/v1/kiosk/events', { events }, kioskToken);
  for (const r of res.results) assert.equal(r.status, 'accepted', JSON.stringify(r));
}

function ev(appointmentId, body) {
  return { id: randomUUID(), occurred_at: new Date().toISOString(), appointment_id: appointmentId, body };
}

// The staff API, called from the page with its own session cookie.
function staffGet(pathname) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { credentials: 'same-origin' });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, pathname);
}

async function shot(name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `console-${name}.png`) });
}

// Runs axe-core on the page and fails on any serious or critical problem
// (this includes colour contrast, labels, landmarks and names of controls).
async function assertAccessible(label) {
  const result = await page.evaluate(async (src) => {
    if (!window.axe) (0, eval)(src);
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  }, AXE_SOURCE);
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${label}: accessibility violations ${JSON.stringify(bad, null, 1)}`);
}

async function go(view) {
  await page.click(`.tabs a[data-view="${view}"]`);
  await page.waitForSelector(`#view-${view}:not([hidden])`);
}

// ------------------------------------------------------------ setup

before(async () => {
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: run cargo build --bin clinic-server`);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-test-'));
  port = await freePort();
  server = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  context = await browser.newContext({ viewport: VIEWPORT });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('response', async (res) => {
    if (!(res.headers()['content-type'] || '').startsWith('application/json')) return;
    const body = await res.json().catch(() => undefined);
    let sent;
    try {
      sent = res.request().postDataJSON() ?? undefined;
    } catch {
      sent = undefined;
    }
    if (body !== undefined) recordApiCall(res.request().method(), res.url(), res.status(), sent, body);
  });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stopServer().catch(() => {});
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

// ------------------------------------------------------------ tests

test('the page and its assets are served with content types and cache headers', async () => {
  for (const [p, type] of [['/', 'text/html'], ['/console.css', 'text/css'], ['/console.js', 'text/javascript']]) {
    const res = await fetch(`${server.url}${p}`);
    assert.equal(res.status, 200, p);
    assert.ok(res.headers.get('content-type').startsWith(type), p);
    assert.equal(res.headers.get('cache-control'), 'no-cache', p);
    const etag = res.headers.get('etag');
    assert.ok(etag, p);
    const again = await fetch(`${server.url}${p}`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304, p);
  }
  const doc = await (await fetch(`${server.url}/openapi.json`)).json();
  for (const p of ['/', '/console.css', '/console.js']) assert.ok(doc.paths[p] && doc.paths[p].get, p);
});

test('a wrong password is refused with a clear message, and repeated failures are throttled', async () => {
  await page.goto(server.url);
  await page.waitForSelector('#login-view:not([hidden])');
  await assertAccessible('sign-in');
  await page.fill('#login-username', server.user);
  await page.fill('#login-password', 'not-the-password');
  await page.click('#login-submit');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.includes('Wrong user name or password'));
  assert.ok(await page.isVisible('#login-view'));
  assert.ok(await page.isHidden('#app-view'));
  // The password field keeps focus so it can be retyped at once.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'login-password');
  await shot('login-error');

  // Another user name. This address and that name are each let through a
  // few failures, then each further failure earns a longer pause.
  await page.fill('#login-username', 'someone.else');
  let text = '';
  for (let i = 0; i < 12 && !/Too many/.test(text); i += 1) {
    await page.fill('#login-password', `wrong-${i}`);
    await page.click('#login-submit');
    await page.waitForFunction(() => !document.getElementById('login-submit').disabled);
    text = await page.textContent('#login-error');
  }
  assert.match(text, /Too many failed sign-ins/);
  const wait = text.match(/try again in (\d+) seconds/);
  assert.ok(wait, text);
  await shot('login-throttled');
  // Sit out the pause, so the next sign-in from this browser is let in.
  await page.waitForTimeout((Number(wait[1]) + 1) * 1000);
});

test('staff sign in and see today with every appointment, filterable by clinician', async () => {
  await page.fill('#login-username', server.user);
  await page.fill('#login-password', server.password);
  await page.press('#login-password', 'Enter');
  await page.waitForSelector('#app-view:not([hidden])');
  await page.waitForFunction(() => document.querySelectorAll('#today-body tr').length === 42);
  assert.match(await page.textContent('#whoami'), new RegExp(server.user));
  assert.ok(!page.url().includes(server.password));

  const states = await page.$$eval('#today-body tr', (rows) => rows.map((r) => r.dataset.state));
  const allowed = new Set(['scheduled', 'arrived', 'checked_in', 'no_show', 'cancelled']);
  for (const s of states) assert.ok(allowed.has(s), s);
  assert.ok(states.includes('checked_in'), 'Ahmed Haddad is checked in');
  assert.ok(states.includes('cancelled'), 'Sofia Rossi is cancelled');
  const haddad = await page.$eval('#today-body tr[data-key="demo-009"]', (r) => r.textContent);
  assert.match(haddad, /Haddad, Ahmed/);
  assert.match(haddad, /Checked in/);

  await page.selectOption('#filter-clinician', 'Dr. Patel');
  const visible = await page.$$eval('#today-body tr:not([hidden])', (rows) => rows.map((r) => r.dataset.clinician));
  assert.equal(visible.length, 14);
  assert.ok(visible.every((c) => c === 'Dr. Patel'));
  assert.match(await page.textContent('#today-summary'), /Showing 14 of 42/);
  await shot('today');
  await page.selectOption('#filter-clinician', '');
  await assertAccessible('today');
});

test("the demo's open flags are listed urgent first, then newest first, in plain words", async () => {
  await go('flags');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'h-flags');
  // The demo seeds one open flag per reason code the server knows.
  const me = await staffGet('/api/v1/staff/me');
  const reasonCount = me.body.reasons.length;
  assert.ok(reasonCount >= 19, `${reasonCount} reason codes`);
  const cards = await page.$$('#flag-list > li');
  assert.equal(cards.length, reasonCount, 'one demo flag per reason code');
  const titles = await page.$$eval('#flag-list h3 .reason', (hs) => hs.map((h) => h.textContent));
  assert.ok(titles.includes('Asked for help'));
  assert.ok(titles.includes('Insurance expired'));
  assert.ok(!titles.some((t) => t.includes('_')), 'no raw reason codes');
  // Urgent flags (the demo's screening result) lead whatever their time;
  // within each group the newest comes first.
  const listed = await page.$$eval('#flag-list > li', (ls) =>
    ls.map((l) => ({ urgent: l.classList.contains('urgent'), at: l.querySelector('time').getAttribute('datetime') })),
  );
  assert.ok(listed.some((f) => f.urgent), 'the demo has an urgent flag');
  const expected = [...listed].sort((a, b) => Number(b.urgent) - Number(a.urgent) || (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  assert.deepEqual(listed, expected);
  const first = await page.textContent('#flag-list > li');
  assert.match(first, /Step:/);
  assert.match(first, /Kiosk:/);
  assert.match(first, /ago|just now/);
  assert.equal((await page.textContent('#count-flags')).trim(), `${reasonCount} open`);
  await shot('flags');
  await assertAccessible('flags');
});

test('a flag and an arrival from a kiosk appear live, without a reload, with a cue', async () => {
  const enrolled = await kioskPost('/api/v1/kiosk/enroll', { code: server.code, kiosk_name: 'Lobby test kiosk', app_version: '0.1.0-test' });
  kioskToken = enrolled.device_token;
  await page.evaluate(() => {
    window.__noReload = true;
  });
  const before = await page.$$eval('#flag-list > li', (ls) => ls.length);

  await kioskEvents(ev('demo-003', { type: 'flag', code: 'help_requested', step: 'insurance', text: 'Patient pressed I need help' }));
  await page.waitForFunction((n) => document.querySelectorAll('#flag-list > li').length === n + 1, before, { timeout: 5000 });
  // Urgent flags (the demo's sample screening result) stay above it.
  const top = page.locator('#flag-list > li:not(.urgent)').first();
  assert.match(await top.textContent(), /Asked for help/);
  assert.match(await top.textContent(), /José Núñez/);
  assert.match(await top.textContent(), /Lobby test kiosk/);
  assert.match(await top.textContent(), /Insurance/);
  assert.ok(await top.evaluate((li) => li.classList.contains('new')), 'the new flag is highlighted');
  assert.ok(await page.evaluate(() => window.__noReload === true), 'the page did not reload');
  assert.ok(await page.evaluate(() => Number(document.body.dataset.lastBeep || 0) > 0), 'the new-flag sound played');
  // Screen readers hear it through the polite live region.
  await page.waitForFunction(() => /New flag: Asked for help/.test(document.getElementById('announcer').textContent));
  await shot('flag-live');

  // An arrival turns the appointment's state on Today, live as well.
  await kioskEvents(ev('demo-005', { type: 'arrived' }));
  await page.waitForFunction(() => document.querySelector('#today-body tr[data-key="demo-005"]').dataset.state === 'arrived', null, { timeout: 5000 });
  assert.ok(await page.evaluate(() => window.__noReload === true));
});

test('staff resolve the new flag with a note', async () => {
  const top = page.locator('#flag-list > li:not(.urgent)').first();
  const flagId = Number(await top.getAttribute('data-key'));
  await top.locator('button.resolve-toggle').click();
  // Submitting without a note explains what is missing.
  await top.locator('button[type="submit"]').click();
  assert.match(await top.locator('.form-error').textContent(), /note/);
  await top.locator('input[name="note"]').fill('Walked over and helped with the insurance card');
  await top.locator('input[name="note"]').press('Enter');
  await page.waitForFunction((id) => !document.querySelector(`#flag-list > li[data-key="${id}"]`), flagId);
  const reasonCount = (await staffGet('/api/v1/staff/me')).body.reasons.length;
  assert.equal((await page.textContent('#count-flags')).trim(), `${reasonCount} open`);
  const open = await staffGet('/api/v1/staff/clinics/demo/flags');
  assert.equal(open.status, 200);
  assert.ok(!open.body.some((f) => f.id === flagId), 'the server has it resolved');
  // Focus moved on to the next flag, not lost.
  assert.equal(await page.evaluate(() => document.activeElement.className), 'resolve-toggle');
});

test('a co-pay chosen at the kiosk is marked collected', async () => {
  await kioskEvents(ev('demo-003', { type: 'copay_chosen', choice: 'front_desk', amount_cents: 2500, currency: 'USD' }));
  await go('copays');
  await page.waitForSelector('#copay-body tr', { timeout: 5000 });
  const row = page.locator('#copay-body tr').first();
  assert.match(await row.textContent(), /José Núñez/);
  assert.match(await row.textContent(), /\$25\.00/);
  assert.match(await row.textContent(), /Pay at the front desk/);
  await shot('copays');
  await assertAccessible('copays');
  await row.locator('button.collect').click();
  await page.waitForSelector('#copays-empty:not([hidden])');
  const collected = await staffGet('/api/v1/staff/clinics/demo/copays?status=collected');
  assert.equal(collected.body.length, 1);
  assert.equal(collected.body[0].amount_cents, 2500);
});

test('a proposed change shows on file against proposed, and is approved', async () => {
  await kioskEvents(ev('demo-003', {
    type: 'demographics_proposed',
    patient_id: 'demo-p003',
    demographics: { address: { line1: '1 New Road', city: 'Albany', region: 'NY', postal_code: '12207' }, phone: '518-555-0100', email: 'jose@example.com' },
  }));
  await go('changes');
  await page.waitForSelector('#change-list > li', { timeout: 5000 });
  const card = page.locator('#change-list > li').first();
  assert.match(await card.locator('h3').textContent(), /Address and contact details for José Núñez/);
  const city = await card.locator('tr', { hasText: 'City' }).evaluate((tr) => ({
    differs: tr.classList.contains('differs'),
    onFile: tr.querySelector('.onfile').textContent,
    proposed: tr.querySelector('.proposed').textContent,
  }));
  assert.deepEqual(city, { differs: true, onFile: 'Springfield', proposed: 'Albany' });
  await shot('changes');
  await assertAccessible('changes');
  await card.locator('button.approve').click();
  await page.waitForSelector('#changes-empty:not([hidden])');
  const pending = await staffGet('/api/v1/staff/clinics/demo/changes');
  assert.deepEqual(pending.body, []);
  // The approved address is what kiosks now pull.
  const res = await fetch(`${server.url}/api/v1/kiosk/schedule`, { headers: { Authorization: `Bearer ${kioskToken}` } });
  const schedule = await res.json();
  const appt = schedule.upserts.find((a) => a.id === 'demo-003');
  assert.equal(appt.patient.demographics.address.city, 'Albany');
});

test('a screener answered at a kiosk shows on Today, and its urgent flag comes first with a sound', async () => {
  // The kiosk's pull names the PHQ-2 for José Núñez and carries the PHQ-9
  // it steps up to.
  const res = await fetch(`${server.url}/api/v1/kiosk/schedule`, { headers: { Authorization: `Bearer ${kioskToken}` } });
  const schedule = await res.json();
  assert.deepEqual(schedule.upserts.find((a) => a.id === 'demo-003').forms_due, ['phq-2']);
  const phq9 = schedule.forms.find((f) => f.id === 'phq-9');
  assert.ok(phq9, 'the PHQ-9 definition comes with the PHQ-2');
  const weight = (o) => o.extension.find((x) => x.url.endsWith('ordinalValue')).valueDecimal;
  const item = (n, w) => {
    const q = phq9.questionnaire.item.find((i) => i.linkId === `phq9-${n}`);
    const o = q.answerOption.find((a) => weight(a) === w);
    return { linkId: q.linkId, answer: [{ valueCoding: { code: o.valueCoding.code } }] };
  };
  const response = {
    resourceType: 'QuestionnaireResponse', status: 'completed', authored: new Date().toISOString(),
    item: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => item(n, n === 9 ? 1 : 0)),
  };
  await go('today');
  const beeps = await page.evaluate(() => Number(document.body.dataset.lastBeep || 0));
  await kioskEvents(ev('demo-003', {
    type: 'form_completed', patient_id: 'demo-p003', form_id: 'phq-9', form_version: phq9.version, response,
  }));
  const cell = page.locator('#today-body tr[data-key="demo-003"] td.forms');
  await page.waitForFunction(() => /PHQ-9/.test(document.querySelector('#today-body tr[data-key="demo-003"] td.forms').textContent), null, { timeout: 5000 });
  assert.match(await cell.textContent(), /Urgent: Patient Health Questionnaire-9 \(PHQ-9\) · 1\/27, minimal/);
  await page.waitForFunction((b) => Number(document.body.dataset.lastBeep || 0) > b, beeps, { timeout: 5000 });
  await go('flags');
  const top = page.locator('#flag-list > li').first();
  assert.ok(await top.evaluate((li) => li.classList.contains('urgent') && li.classList.contains('new')), 'the new urgent flag is on top');
  assert.match(await top.textContent(), /José Núñez/);
  assert.match(await top.textContent(), /Depression screener needs a clinician now/);
  await shot('forms-urgent');
  await assertAccessible('flags with an urgent screener');
});

test('a positive PHQ-2 whose PHQ-9 the patient did not finish says so on Today', async () => {
  const res = await fetch(`${server.url}/api/v1/kiosk/schedule`, { headers: { Authorization: `Bearer ${kioskToken}` } });
  const schedule = await res.json();
  // Another patient the demo asks for the PHQ-2 (José Núñez finished his
  // PHQ-9 above).
  const appt = schedule.upserts.find((a) => a.id !== 'demo-003' && (a.forms_due || []).includes('phq-2'));
  assert.ok(appt, 'a second appointment with the PHQ-2 due');
  const phq2 = schedule.forms.find((f) => f.id === 'phq-2');
  const weight = (o) => o.extension.find((x) => x.url.endsWith('ordinalValue')).valueDecimal;
  const item = (n) => {
    const q = phq2.questionnaire.item.find((i) => i.linkId === `phq2-${n}`);
    const o = q.answerOption.find((a) => weight(a) === 2);
    return { linkId: q.linkId, answer: [{ valueCoding: { code: o.valueCoding.code } }] };
  };
  const response = {
    resourceType: 'QuestionnaireResponse', status: 'completed', authored: new Date().toISOString(),
    item: [item(1), item(2)],
  };
  await go('today');
  await kioskEvents(ev(appt.id, {
    type: 'form_completed', patient_id: appt.patient.id, form_id: 'phq-2', form_version: phq2.version, response,
  }));
  const row = `#today-body tr[data-key="${appt.id}"] td.forms`;
  const cell = page.locator(row);
  await page.waitForFunction((r) => /PHQ-2/.test(document.querySelector(r).textContent), row, { timeout: 5000 });
  assert.match(await cell.textContent(), /\(PHQ-2\) · 4\/6, positive · PHQ-9 not completed/);
  assert.ok(await cell.locator('.form-result.follow-up').count() === 1, 'the follow-up stands out');
});

test("an appointment's QR pass is shown, ready to print", async () => {
  await go('today');
  const button = page.locator('#today-body tr[data-key="demo-001"] button.pass-button');
  await button.focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#pass-dialog[open]');
  await page.waitForFunction(() => {
    const img = document.getElementById('pass-image');
    return !img.hidden && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 5000 });
  assert.match(await page.getAttribute('#pass-image', 'alt'), /Maria García/);
  assert.match(await page.textContent('#pass-expires'), /Valid until/);
  assert.match(await page.getAttribute('#pass-image', 'src'), /\/appointments\/demo-001\/pass\.svg$/);
  await shot('pass');
  await assertAccessible('pass');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#pass-dialog:not([open])', { state: 'attached' });
  assert.equal(await page.evaluate(() => document.activeElement.closest('tr')?.dataset.key), 'demo-001');
});

test('the kiosk fleet lists the enrolled kiosk and staff create an enrollment code', async () => {
  await kioskPost('/api/v1/kiosk/heartbeat', { app_version: '0.1.0-test', outbox_depth: 3, outbox_oldest_age_secs: 125, online: true, clock_skew_secs: -425 }, kioskToken);
  await go('kiosks');
  await page.waitForFunction(() => /Lobby test kiosk/.test(document.getElementById('kiosk-body').textContent), null, { timeout: 5000 });
  const row = page.locator('#kiosk-body tr', { hasText: 'Lobby test kiosk' });
  await page.waitForFunction(() => document.querySelector('#kiosk-body tr td.num')?.textContent === '3', null, { timeout: 5000 });
  const text = await row.innerText();
  assert.match(text, /Online/);
  assert.match(text, /0\.1\.0-test/);
  assert.match(text, /2 min/);
  // Its clock is 7 minutes slow, and the row says so.
  const clock = row.locator('span.badge', { hasText: 'slow' });
  assert.equal(await clock.innerText(), '7 min slow');
  assert.match(await clock.getAttribute('title'), /time synchronisation/);
  await page.click('#enroll-create');
  await page.waitForSelector('#enroll-result:not([hidden])');
  const code = await page.textContent('#enroll-code');
  assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  // The demo clinic has no EHR connection, and the page says so.
  await page.waitForFunction(() => /No EHR connection is configured/.test(document.getElementById('ehr-summary').textContent), null, { timeout: 5000 });
  await shot('kiosks');
  await assertAccessible('kiosks');
  // The code really enrolls a kiosk.
  const second = await kioskPost('/api/v1/kiosk/enroll', { code, kiosk_name: 'Lobby 2', app_version: '0.1.0-test' });
  assert.ok(second.device_token);
});

test('a lost kiosk is revoked from the fleet and its token stops working', async () => {
  const lost = await kioskPost('/api/v1/kiosk/enroll', {
    code: await (async () => {
      // The previous test's code is still shown until the new one arrives.
      const used = await page.textContent('#enroll-code');
      await page.click('#enroll-create');
      await page.waitForFunction(
        (old) => !document.getElementById('enroll-result').hidden && document.getElementById('enroll-code').textContent !== old,
        used,
      );
      return page.textContent('#enroll-code');
    })(),
    kiosk_name: 'Lost kiosk',
    app_version: '0.1.0-test',
  });
  await kioskPost('/api/v1/kiosk/heartbeat', { app_version: '0.1.0-test', outbox_depth: 0, online: true }, lost.device_token);
  // Leave and come back: opening the view fetches the fleet again.
  await go('flags');
  await go('kiosks');
  const row = page.locator('#kiosk-body tr', { hasText: 'Lost kiosk' });
  await row.waitFor({ timeout: 15_000 });
  page.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'Revoke Lost kiosk' }).click();
  await page.waitForFunction(
    () => [...document.querySelectorAll('#kiosk-body tr')].some((tr) => /Lost kiosk/.test(tr.textContent) && /Revoked/.test(tr.textContent)),
    null,
    { timeout: 15_000 },
  );
  const res = await fetch(`${server.url}/api/v1/kiosk/heartbeat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${lost.device_token}` },
    body: JSON.stringify({ app_version: '0.1.0-test', outbox_depth: 0, online: true }),
  });
  assert.equal(res.status, 401);
});

test('the page says when the server is down and reconnects by itself after a restart', async () => {
  await go('flags');
  await stopServer('SIGTERM');
  await page.waitForSelector('#connection-banner:not([hidden])', { timeout: 10_000 });
  assert.match(await page.textContent('#connection-banner'), /Disconnected .* reconnecting/);
  await shot('disconnected');
  server = await startServer();
  // The demo sets a fresh password at each start, and a new password ends
  // the sessions of the old one: the page notices by itself and asks.
  await page.waitForSelector('#login-view:not([hidden])', { timeout: 20_000 });
  assert.match(await page.textContent('#login-error'), /session has ended/);
  assert.ok(await page.isHidden('#connection-banner'));
  await page.fill('#login-username', server.user);
  await page.fill('#login-password', server.password);
  await page.press('#login-password', 'Enter');
  await page.waitForSelector('#app-view:not([hidden])');
  await page.waitForFunction(() => document.getElementById('live-status-text').textContent === 'Live', null, { timeout: 20_000 });
  assert.equal((await staffGet('/api/v1/staff/me')).status, 200);
  await go('flags');
  // Live updates flow again, without a reload.
  const before = await page.$$eval('#flag-list > li', (ls) => ls.length);
  await kioskEvents(ev(null, { type: 'flag', code: 'identity_not_found', step: 'not_found', text: 'Patient could not be found' }));
  await page.waitForFunction((n) => document.querySelectorAll('#flag-list > li').length === n + 1, before, { timeout: 5000 });
  assert.match(await page.locator('#flag-list > li:not(.urgent)').first().textContent(), /Patient not found/);
  assert.ok(await page.evaluate(() => window.__noReload === true));
});

test('repeated failed sign-ins for the signed-in user raise a banner, without the password', async () => {
  // Someone guesses the demo user's password (the restart
  // above cleared the counts). The fifth failure raises the alert.
  for (let i = 0; i < 5; i += 1) {
    const res = await fetch(`${server.url}/api/v1/staff/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'test' },
      body: JSON.stringify({ username: server.user, password: `guess-number-${i}` }),
    });
    assert.equal(res.status, 401);
  }
  await page.waitForSelector('#login-alert-banner:not([hidden])', { timeout: 10_000 });
  const text = await page.textContent('#login-alert-text');
  assert.match(text, new RegExp(`Repeated failed sign-ins for user ${server.user}`));
  // This address failed as often, and is named too.
  await page.waitForFunction(() => /address 127\.0\.0\.1/.test(document.getElementById('login-alert-text').textContent));
  assert.ok(!/guess-number/.test(await page.textContent('#login-alert-text')));
  await shot('login-alert');
  await assertAccessible('login-alert');
  await page.click('#login-alert-dismiss');
  assert.ok(await page.isHidden('#login-alert-banner'));
  // Sit out the pause those failures earned, for the sign-ins below.
  await page.waitForTimeout(3000);
});

test('everything works from the keyboard alone', async () => {
  const kb = await browser.newContext({ viewport: VIEWPORT });
  const p = await kb.newPage();
  try {
    await p.goto(server.url);
    await p.waitForSelector('#login-view:not([hidden])');
    assert.equal(await p.evaluate(() => document.activeElement.id), 'login-username');
    await p.keyboard.type(server.user);
    await p.keyboard.press('Tab');
    assert.equal(await p.evaluate(() => document.activeElement.id), 'login-password');
    await p.keyboard.type(server.password);
    await p.keyboard.press('Enter');
    await p.waitForSelector('#app-view:not([hidden])');
    // Tab to the Flags tab and open it.
    let found = false;
    for (let i = 0; i < 25 && !found; i += 1) {
      await p.keyboard.press('Tab');
      found = await p.evaluate(() => document.activeElement.dataset?.view === 'flags');
    }
    assert.ok(found, 'the Flags tab is reachable with Tab');
    const outline = await p.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    await p.keyboard.press('Enter');
    await p.waitForSelector('#view-flags:not([hidden])');
    assert.equal(await p.evaluate(() => document.activeElement.id), 'h-flags');
    // Tab into the first flag and resolve it without a mouse, once the
    // list has loaded (an urgent card first has its own stops).
    await p.waitForSelector('#flag-list > li .resolve-toggle');
    found = false;
    for (let i = 0; i < 25 && !found; i += 1) {
      await p.keyboard.press('Tab');
      found = await p.evaluate(() => document.activeElement.classList.contains('resolve-toggle'));
    }
    assert.ok(found, 'the first Resolve button is reachable');
    const id = await p.evaluate(() => document.activeElement.closest('li').dataset.key);
    await p.keyboard.press('Enter');
    assert.equal(await p.evaluate(() => document.activeElement.name), 'note');
    await p.keyboard.type('Handled at the desk');
    await p.keyboard.press('Enter');
    await p.waitForFunction((k) => !document.querySelector(`#flag-list > li[data-key="${k}"]`), id);
  } finally {
    await kb.close();
  }
});

// Ajv validators for the document's operations: `$ref`s to
// #/components/schemas become local `$defs`.
async function openApiValidators() {
  const doc = await (await plainFetch(`${server.url}/openapi.json`)).json();
  const local = (schema) => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"#/$defs/'));
  const defs = local(doc.components.schemas);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  for (const f of ['int8', 'int16', 'int32', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64']) ajv.addFormat(f, true);
  const compile = (schema) => ajv.compile({ $defs: defs, ...local(schema) });
  const routes = Object.entries(doc.paths).map(([template, ops]) => ({
    template,
    ops,
    re: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  // The validators of the request and of a response with `status`.
  const forCall = (method, pathname, status) => {
    const route = routes.find((r) => r.re.test(pathname));
    assert.ok(route, `${pathname} is not in the document`);
    const op = route.ops[method.toLowerCase()];
    assert.ok(op, `${method} ${route.template} is not in the document`);
    let response = op.responses[String(status)];
    assert.ok(response, `${method} ${route.template} answered ${status}, which the document does not list`);
    if (response.$ref) response = doc.components.responses[response.$ref.split('/').pop()];
    const schema = response.content?.['application/json']?.schema;
    assert.ok(schema, `${method} ${route.template} ${status} has no JSON schema`);
    const request = op.requestBody?.content['application/json'].schema;
    return { key: `${method} ${route.template} ${status}`, response: compile(schema), request: request && compile(request) };
  };
  return { forCall, ajv };
}

test('every API request and response seen in this run matches /openapi.json', async () => {
  const { forCall, ajv } = await openApiValidators();
  const covered = new Set();
  for (const call of apiCalls) {
    const v = forCall(call.method, call.path, call.status);
    assert.ok(v.response(call.responseBody), `${v.key}: ${ajv.errorsText(v.response.errors)}\n${JSON.stringify(call.responseBody).slice(0, 400)}`);
    if (call.status < 300 && call.requestBody !== undefined) {
      assert.ok(v.request, `${v.key} took a body the document does not describe`);
      assert.ok(v.request(call.requestBody), `${v.key} request: ${ajv.errorsText(v.request.errors)}`);
    }
    covered.add(v.key);
  }
  // The run exercised the kiosk API, the staff API and their errors.
  for (const key of [
    'POST /api/v1/kiosk/enroll 200',
    'GET /api/v1/kiosk/schedule 200',
    'POST /api/v1/kiosk/events 200',
    'POST /api/v1/kiosk/heartbeat 200',
    'POST /api/v1/staff/login 200',
    'POST /api/v1/staff/login 401',
    'POST /api/v1/staff/login 429',
    'GET /api/v1/staff/me 200',
    'GET /api/v1/staff/clinics/{clinic}/appointments 200',
    'GET /api/v1/staff/clinics/{clinic}/flags 200',
    'POST /api/v1/staff/clinics/{clinic}/flags/{id}/resolve 200',
    'GET /api/v1/staff/clinics/{clinic}/copays 200',
    'POST /api/v1/staff/clinics/{clinic}/copays/{id} 200',
    'GET /api/v1/staff/clinics/{clinic}/changes 200',
    'POST /api/v1/staff/clinics/{clinic}/changes/{id}/approve 200',
    'GET /api/v1/staff/clinics/{clinic}/kiosks 200',
    'POST /api/v1/staff/clinics/{clinic}/kiosks/{id}/revoke 200',
    'POST /api/v1/staff/clinics/{clinic}/enrollment-codes 201',
  ]) {
    assert.ok(covered.has(key), `no ${key} in this run; seen: ${[...covered].sort().join(', ')}`);
  }

  // The schemas are strict enough to catch what the server refuses, and a
  // response that lost a field.
  const events = forCall('POST', '/api/v1/kiosk/events', 200);
  const badFlag = { events: [ev('demo-001', { type: 'flag', code: 'not_a_code', step: 'welcome', text: 'x' })] };
  assert.equal(events.request(badFlag), false, 'an unknown reason code passes the schema');
  const refused = await plainFetch(`${server.url}/api/v1/kiosk/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${kioskToken}` },
    body: JSON.stringify(badFlag),
  });
  const refusedBody = await refused.json();
  const refusal = forCall('POST', '/api/v1/kiosk/events', refused.status);
  assert.ok(refused.status === 422 || refusedBody.results?.[0]?.status === 'rejected', JSON.stringify(refusedBody));
  assert.ok(refusal.response(refusedBody), ajv.errorsText(refusal.response.errors));
  const extraField = { events: [{ ...ev('demo-001', { type: 'arrived' }), extra: 1 }] };
  assert.equal(events.request(extraField), false, 'an unknown field passes the schema');
  const flags = apiCalls.find((c) => c.path.endsWith('/flags') && c.status === 200 && c.responseBody.length > 0);
  const broken = structuredClone(flags.responseBody);
  delete broken[0].code;
  assert.equal(forCall('GET', flags.path, 200).response(broken), false, 'a flag without its code passes the schema');
});

test('signing out returns to the sign-in form and ends the session', async () => {
  await page.click('#logout');
  await page.waitForSelector('#login-view:not([hidden])');
  assert.equal(await page.$$eval('#flag-list > li', (ls) => ls.length), 0, 'no patient data left on the page');
  const me = await staffGet('/api/v1/staff/me');
  assert.equal(me.status, 401);
});

test('a user of several clinics picks the clinic with the clinic picker', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-multi-'));
  const p2 = await freePort();
  const config = path.join(dir, 'clinic-server.toml');
  const clinic = (id, name, zone) => `[[clinic]]\nid = "${id}"\nname = "${name}"\ntime_zone = "${zone}"\ncurrency = "USD"\nlocations = ["main"]\n`;
  fs.writeFileSync(config, `[server]\nlisten = "127.0.0.1:${p2}"\ndata_dir = "${path.join(dir, 'data')}"\n\n${clinic('north', 'North Family Clinic', 'America/Chicago')}\n${clinic('south', 'South Street Clinic', 'America/New_York')}`);
  const password = 'a-long-test-password';
  for (const c of ['north', 'south']) {
    await new Promise((resolve, reject) => {
      const add = spawn(BIN, ['add-staff', '--config', config, '--clinic', c, '--user', 'multi'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      add.stderr.on('data', (d) => {
        err += d;
      });
      add.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`add-staff ${c}: ${err}`))));
      add.stdin.end(`${password}\n`);
    });
  }
  const proc = spawn(BIN, ['serve', '--config', config], { stdio: ['ignore', 'ignore', 'ignore'] });
  const ctx = await browser.newContext({ viewport: VIEWPORT });
  try {
    const url = `http://127.0.0.1:${p2}`;
    for (let i = 0; ; i += 1) {
      const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      assert.ok(i < 200, 'clinic-server serve did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const p = await ctx.newPage();
    await p.goto(url);
    await p.fill('#login-username', 'multi');
    await p.fill('#login-password', password);
    await p.press('#login-password', 'Enter');
    await p.waitForSelector('#app-view:not([hidden])');
    assert.ok(await p.isVisible('#clinic-picker'), 'the picker shows for two clinics');
    assert.equal(await p.textContent('#clinic-name'), 'North Family Clinic');
    const asked = [];
    p.on('request', (r) => asked.push(new URL(r.url()).pathname));
    await p.selectOption('#clinic-picker', 'south');
    await p.waitForFunction(() => document.getElementById('clinic-name').textContent === 'South Street Clinic');
    await p.waitForFunction(() => document.getElementById('live-status-text').textContent === 'Live');
    assert.ok(asked.some((a) => a === '/api/v1/staff/clinics/south/appointments'));
    assert.ok(asked.some((a) => a === '/api/v1/staff/clinics/south/stream'));
    assert.match(await p.title(), /South Street Clinic/);
    await p.screenshot({ path: path.join(SHOTS, 'console-clinic-picker.png') });
    // The choice holds across a reload, and is not in the URL.
    await p.reload();
    await p.waitForSelector('#app-view:not([hidden])');
    await p.waitForFunction(() => document.getElementById('clinic-name').textContent === 'South Street Clinic');
    assert.ok(!p.url().includes('south'));
  } finally {
    await ctx.close();
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the page raised no script errors', () => {
  assert.deepEqual(pageErrors, []);
});
