#!/usr/bin/env node
// Issue #16's window figures, each as a ratio to a baseline measured in the
// same run: the product beside a hello-world Tauri 2 app (bench/hello-app),
// both debug builds with the page served from the binary, both launched the
// same way (tauri-driver + WebKitWebDriver under this session's Xvfb).
//
// - launch → first screen: the app opens locked, so its first screen is the
//   lock screen; hello's is its heading. Then unlock → the patient's name on
//   Today (the record is signed in and synced beforehand).
// - idle PSS 10 s after the first screen: the app process and its WebKit
//   processes (web, network), summed from /proc/PID/smaps_rollup.
// - with --year: the one-year record (`--seed year`, 2,000 messages…): the
//   same, and click → content for Messages, the 200-message thread, Reading
//   and Results, and the idle PSS over the demo record's.
//
// - hello twice per round: as shipped, and painting the way CareCycle chose
//   on this machine (the WEBKIT_* variables read from the product's own web
//   process, so the choice lives only in src-tauri/src/renderer.rs): the
//   first is the baseline, the second shows the page's own cost.
//
// Alternating runs (product, hello, hello painting alike, …), medians of ROUNDS each.
// Run: scripts/e2e-session.sh node ui/bench/first-screen.mjs [--year] [--rounds N] [--bin DIR]
// (the README's benchmark command builds first). Prints figures only, no PHI.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, SCRIPTED_BROWSER, startBackend, startDriver, tempDir } from '../e2e/support/processes.mjs';
import { Session } from '../e2e/support/webdriver.mjs';
import { PASSCODE, lockStage, passLock } from '../e2e/support/app.mjs';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1]) || 7;
const YEAR = args.includes('--year');
// --bin DIR: the two binaries from another build (e.g. a release target
// directory), built the same way; by default the debug builds.
const BIN = args.includes('--bin') ? args[args.indexOf('--bin') + 1] : join(ROOT, 'target/debug');
const PRODUCT = join(BIN, 'carecycle-app');
const HELLO = join(BIN, 'carecycle-hello');
const IDLE_MS = 10000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Every process descended from `root` (by /proc/PID/stat's parent). */
function descendants(root) {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = [];
  const walk = (pid) => {
    for (const [child, p] of parent) {
      if (p === pid) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return out;
}

/** PSS (MiB) of the app and its WebKit processes under the driver `root` (not the drivers). */
function pssMiB(root, app) {
  let kib = 0;
  for (const pid of descendants(root)) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (!(app.startsWith(comm) || comm.startsWith('WebKit')) || comm === 'WebKitWebDriver') continue;
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) kib += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kib / 1024;
}

/** Launches `binary` through a fresh tauri-driver; resolves { s, driver, ms } once `ready(s)` holds. */
async function launch(binary, env, ready) {
  const driver = await startDriver(env);
  const startedAt = Date.now();
  const started = performance.now();
  const s = await Session.start(driver.base, binary, { implicitWaitMs: 0 });
  await s.waitFor(() => ready(s), { intervalMs: 5, timeoutMs: 60000, what: 'the first screen' });
  const ms = performance.now() - started;
  // Where the time went: until the page's navigation began (process, setup,
  // window), and in the page.
  const origin = await s.execute('return performance.timeOrigin');
  return { s, driver, ms, toPage: origin - startedAt };
}

/** The WEBKIT_* variables the app's web process was started with (how it paints). */
function paintingOf(root) {
  for (const pid of descendants(root)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'WebKitWebProces') continue;
      const vars = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((kv) => kv.startsWith('WEBKIT_') && !kv.startsWith('WEBKIT_INSPECTOR_SERVER='));
      return Object.fromEntries(vars.map((kv) => kv.split(/=(.*)/s, 2)));
    } catch {
      // gone
    }
  }
  throw new Error('no web process under the product');
}

async function close({ s, driver }) {
  await s.end().catch(() => {});
  await driver.stop();
}

const backend = await startBackend({ seed: YEAR ? 'year' : 'demo' });
const account = YEAR ? ['morgan', 'year-demo-2026'] : ['eleanor', 'knee-demo-2026'];
const env = {
  CARECYCLE_DATA_DIR: tempDir('bench-app'),
  CARECYCLE_SERVERS: `Bench unit|${backend.fhirBase}`,
  BROWSER: SCRIPTED_BROWSER,
  CARECYCLE_E2E_USERNAME: account[0],
  CARECYCLE_E2E_PASSWORD: account[1],
};
const helloEnv = { CARECYCLE_DATA_DIR: tempDir('bench-hello') };
const rows = [];
try {
  // Signed in and synced once, as a patient's app is on any later launch.
  {
    const first = await launch(PRODUCT, env, async (s) => (await s.findAll('[data-testid="sign-in-choice"]')).length > 0);
    await first.s.click(await first.s.find('[data-testid="sign-in-choice"]'));
    await passLock(first.s, PASSCODE);
    await first.s.waitFor(async () => (await first.s.findAll('[data-testid="update-now"]')).length > 0, { timeoutMs: 120000, what: 'the first sync' });
    await sleep(3000);
    await close(first);
  }

  let painting = null;
  const m = { toPage: [], helloToPage: [], firstScreen: [], unlock: [], pss: [], helloScreen: [], helloPss: [], alikeScreen: [], alikePss: [], messages: [], thread: [], reading: [], results: [] };
  const shown = (css) => async (s) => (await s.findAll(css)).length > 0;
  const until = (s, css) => s.waitFor(() => shown(css)(s), { intervalMs: 5, what: css });
  // Click → content, timed in the page (the click event, then the first DOM
  // change that shows `css`): what the patient waits for, without WebDriver's
  // own round trips.
  const clickThen = async (s, click, css) => {
    await s.execute(
      `window.__clickAt = null; window.__shownAt = null;
       document.addEventListener('click', () => { window.__clickAt ??= performance.now(); }, { capture: true, once: true });
       const obs = new MutationObserver(() => {
         if (window.__clickAt !== null && document.querySelector(arguments[0])) { window.__shownAt = performance.now(); obs.disconnect(); }
       });
       obs.observe(document.body, { childList: true, subtree: true, attributes: true });`,
      [css],
    );
    await s.click(await s.find(click));
    await s.waitFor(async () => (await s.execute('return window.__shownAt')) !== null, { intervalMs: 5, what: css });
    const [clickAt, shownAt] = await s.execute('return [window.__clickAt, window.__shownAt]');
    return shownAt - clickAt;
  };
  for (let round = 0; round < ROUNDS; round++) {
    const app = await launch(PRODUCT, env, async (s) => (await lockStage(s)) === 'locked');
    m.firstScreen.push(app.ms);
    m.toPage.push(app.toPage);
    await app.s.type(await app.s.find('[data-testid="passcode"]'), PASSCODE);
    const unlockAt = performance.now();
    await app.s.click(await app.s.find('[data-testid="unlock"]'));
    await until(app.s, '[data-testid="patient-name"]');
    m.unlock.push(performance.now() - unlockAt);
    await sleep(IDLE_MS);
    m.pss.push(pssMiB(app.driver.pid, 'carecycle-app'));
    painting ??= paintingOf(app.driver.pid);
    if (YEAR) {
      m.messages.push(await clickThen(app.s, '[data-testid="nav-messages"]', '[data-testid="thread"]'));
      // The generator's long thread is its oldest: the last in the whole list.
      await app.s.click(await app.s.find('[data-testid="older-threads"]'));
      m.thread.push(await clickThen(app.s, '.thread-list li:last-child [data-testid="thread"]', '[data-testid="message"]'));
      m.reading.push(await clickThen(app.s, '[data-testid="nav-reading"]', '.doc-link'));
      m.results.push(await clickThen(app.s, '[data-testid="nav-results"]', '[data-testid="result-series"]'));
    }
    await close(app);

    const hello = await launch(HELLO, helloEnv, shown('#hello'));
    m.helloScreen.push(hello.ms);
    m.helloToPage.push(hello.toPage);
    await sleep(IDLE_MS);
    m.helloPss.push(pssMiB(hello.driver.pid, 'carecycle-hello'));
    await close(hello);

    const alike = await launch(HELLO, { ...helloEnv, ...painting }, shown('#hello'));
    m.alikeScreen.push(alike.ms);
    await sleep(IDLE_MS);
    m.alikePss.push(pssMiB(alike.driver.pid, 'carecycle-hello'));
    await close(alike);
  }
  const ratio = (a, b) => `${(median(a) / median(b)).toFixed(2)}×`;
  const ms = (xs) => `${Math.round(median(xs))} ms`;
  const mib = (xs) => `${median(xs).toFixed(0)} MiB`;
  const record = YEAR ? 'one-year record' : 'demo record';
  rows.push(['launch → first screen (the lock screen)', ms(m.firstScreen), `hello ${ms(m.helloScreen)}`, ratio(m.firstScreen, m.helloScreen)]);
  rows.push(['  of which: launch → the page starts loading', ms(m.toPage), `hello ${ms(m.helloToPage)}`, ratio(m.toPage, m.helloToPage)]);
  // The rest is the page's own: its script (async, so not in DOMContentLoaded),
  // the isolation frame, the first command and the first drawing.
  const inPage = (all, toPage) => all.map((x, i) => x - toPage[i]);
  rows.push(['  of which: page start → first screen', ms(inPage(m.firstScreen, m.toPage)), `hello ${ms(inPage(m.helloScreen, m.helloToPage))}`, ratio(inPage(m.firstScreen, m.toPage), inPage(m.helloScreen, m.helloToPage))]);
  rows.push(['launch → Today (first screen + unlock)', ms(m.firstScreen.map((x, i) => x + m.unlock[i])), `hello ${ms(m.helloScreen)}`, ratio(m.firstScreen.map((x, i) => x + m.unlock[i]), m.helloScreen)]);
  rows.push(['unlock → patient name on Today', ms(m.unlock), '', '']);
  rows.push([`idle PSS, app + WebKit, 10 s after Today (${record})`, mib(m.pss), `hello ${mib(m.helloPss)}`, ratio(m.pss, m.helloPss)]);
  const chosen = Object.entries(painting).map(([k, v]) => `${k}=${v}`).join(' ') || 'WebKit defaults';
  rows.push([`hello painting as CareCycle chose here (${chosen}): launch → first screen`, ms(m.firstScreen), `hello ${ms(m.alikeScreen)}`, ratio(m.firstScreen, m.alikeScreen)]);
  rows.push(['  and idle PSS', mib(m.pss), `hello ${mib(m.alikePss)}`, ratio(m.pss, m.alikePss)]);
  if (YEAR) {
    rows.push(['click Messages → threads (in the page)', ms(m.messages), '', '']);
    rows.push(['click the 200-message thread → messages (in the page)', ms(m.thread), '', '']);
    rows.push(['click Reading → documents (in the page)', ms(m.reading), '', '']);
    rows.push(['click Results → charts (in the page)', ms(m.results), '', '']);
  }
} finally {
  await backend.stop().catch(() => {});
}
process.stdout.write(`first screen and memory, medians of ${ROUNDS} alternating runs (${BIN}, Xvfb)\n`);
for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
