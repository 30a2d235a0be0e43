// What the screen tests share: a seeded back end and the real app signed in
// through SMART (the scripted browser standing in for the system browser),
// screenshots at both sizes, and reading texts off the window.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from './webdriver.mjs';
import { APP, ARTIFACTS, BACKEND, SCRIPTED_BROWSER, startBackend, startDriver, tempDir } from './processes.mjs';

export const PATIENT = { user: 'eleanor', password: 'knee-demo-2026' };
/** The app passcode every test's patient chooses at the first sign-in. */
export const PASSCODE = '482916';
export const SIZES = { desktop: [1280, 800], phone: [390, 844] };

/** The care team's command line, as Priya (the knee unit's nurse navigator), beside the running back end. */
export function team(backend, ...args) {
  return execFileSync(BACKEND, ['team', '--data', backend.dataDir, '--as', 'priya', ...args], { encoding: 'utf8' });
}

export function save(name, png) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  writeFileSync(path, png);
  return path;
}

export async function texts(session, css) {
  return Promise.all((await session.findAll(css)).map((el) => session.text(el)));
}

/**
 * Waits for the first element matching `css` whose text passes `match`: a
 * string it contains, or a function of the text.
 */
export function findByText(s, css, match, what = `${css} with ${match}`) {
  const ok = typeof match === 'string' ? (text) => text.includes(match) : match;
  return s.waitFor(
    async () => {
      for (const el of await s.findAll(css)) if (ok(await s.text(el))) return el;
      return null;
    },
    { what },
  );
}

/**
 * Clicks `el` as a person taps it: scrolled to the middle of the window
 * first. WebDriver scrolls an element only as far as the window's edge, where
 * on a phone the bottom tab bar may cover it (a person scrolls it above).
 */
export async function tap(s, el) {
  await s.execute('arguments[0].scrollIntoView({ block: "center" }); return true;', [{ 'element-6066-11e4-a52e-4f735466cecf': el }]);
  await s.click(el);
}

/**
 * Saves `name-desktop.png` and `name-phone.png`, and returns to desktop size;
 * with `show` (a CSS selector), that element is scrolled into the middle of
 * the window at each size; `each(size)` checks the screen at each size.
 */
export async function screenshots(s, name, { show = null, each = async () => {} } = {}) {
  const scroll = () =>
    show && s.execute('document.querySelector(arguments[0])?.scrollIntoView({ block: "center" }); return true;', [show]);
  await scroll();
  await each('desktop');
  const desktop = save(`${name}-desktop.png`, await s.screenshot());
  await s.setWindowSize(...SIZES.phone);
  await new Promise((r) => setTimeout(r, 500));
  await scroll();
  await each('phone');
  const phone = save(`${name}-phone.png`, await s.screenshot());
  await s.setWindowSize(...SIZES.desktop);
  return [desktop, phone];
}

/** Starts the app through a new tauri-driver with `env`; both stopped by the test. */
async function launch(t, env) {
  const driver = await startDriver(env);
  t.after(driver.stop);
  const s = await Session.start(driver.base, APP);
  t.after(() => s.end());
  await s.setWindowSize(...SIZES.desktop);
  return { s, driver };
}

/** What the window shows: Today, the first passcode to choose, the lock screen, or none of these yet. */
export function lockStage(s) {
  return s.execute(`
    const has = (id) => document.querySelector('[data-testid="' + id + '"]') !== null;
    return has('patient-name') ? 'today' : has('passcode-new') ? 'choose' : has('passcode') ? 'locked' : null;`);
}

/**
 * After a sign-in or a launch, gets to the record the way a patient does:
 * chooses the app passcode (the first sign-in of a record) or unlocks with
 * it (the app starts locked), until Today shows its patient's name.
 */
export async function passLock(s, passcode = PASSCODE, { choosing = async () => {} } = {}) {
  for (;;) {
    const stage = await s.waitFor(() => lockStage(s), { what: 'Today, the passcode or the lock screen', timeoutMs: 60000 });
    if (stage === 'today') break;
    if (stage === 'choose') {
      await choosing(s);
      await s.type(await s.find('[data-testid="passcode-new"]'), passcode);
      await s.type(await s.find('[data-testid="passcode-again"]'), passcode);
      await s.click(await s.find('[data-testid="passcode-save"]'));
    } else {
      await s.type(await s.find('[data-testid="passcode"]'), passcode);
      await s.click(await s.find('[data-testid="unlock"]'));
    }
    await s.waitFor(async () => (await lockStage(s)) !== stage, { what: `past the ${stage} screen`, timeoutMs: 30000 });
  }
  return s.waitFor(async () => (await texts(s, '[data-testid="patient-name"]'))[0], { what: 'Today', timeoutMs: 60000 });
}

/**
 * A seeded back end and the app signed in as `user`, showing Today; all
 * stopped by the test; the patient chose the app passcode `PASSCODE` at the
 * sign-in. `relaunch()` quits the app for real (its whole process group) and
 * starts it again on the same data, unlocked with the passcode, resolving to
 * the new session. `before(s)` runs on the sign-in screen, `choosing(s)` on
 * the screen where the first passcode is chosen.
 */
export async function signedInApp(
  t,
  {
    user = PATIENT.user,
    password = PATIENT.password,
    env = {},
    before = async () => {},
    choosing = async () => {},
    server = null,
    seed = 'demo',
  } = {},
) {
  // `server` ({ label, fhirBase }): another FHIR server to sign in to, instead of a seeded back end.
  const backend = server ? null : await startBackend({ seed });
  if (backend) t.after(backend.stop);
  const { label, fhirBase } = server ?? { label: 'Riverside Knee & Hip Unit (demo)', fhirBase: backend.fhirBase };
  const appEnv = {
    CARECYCLE_DATA_DIR: tempDir('app'),
    CARECYCLE_SERVERS: `${label}|${fhirBase}`,
    BROWSER: SCRIPTED_BROWSER,
    CARECYCLE_E2E_USERNAME: user,
    CARECYCLE_E2E_PASSWORD: password,
    ...env,
  };
  let app = await launch(t, appEnv);
  await before(app.s);
  await app.s.click(await app.s.find('[data-testid="sign-in-choice"]'));
  await passLock(app.s, PASSCODE, { choosing });
  // The app starts locked: `unlock: false` leaves it at the lock screen.
  const relaunch = async ({ unlock = true } = {}) => {
    await app.s.end();
    await app.driver.stop();
    app = await launch(t, appEnv);
    if (unlock) await passLock(app.s);
    return app.s;
  };
  return { s: app.s, backend, relaunch, dataDir: appEnv.CARECYCLE_DATA_DIR };
}
