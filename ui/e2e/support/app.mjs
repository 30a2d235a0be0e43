// What the screen tests share: a seeded back end and the real app signed in
// through SMART (the scripted browser standing in for the system browser),
// screenshots at both sizes, and reading texts off the window.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from './webdriver.mjs';
import { APP, ARTIFACTS, BACKEND, SCRIPTED_BROWSER, startBackend, startDriver, tempDir } from './processes.mjs';

export const PATIENT = { user: 'eleanor', password: 'knee-demo-2026' };
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

/** Saves `name-desktop.png` and `name-phone.png`, and returns to desktop size. */
export async function screenshots(s, name) {
  const desktop = save(`${name}-desktop.png`, await s.screenshot());
  await s.setWindowSize(...SIZES.phone);
  await new Promise((r) => setTimeout(r, 500));
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

function waitForToday(s) {
  return s.waitFor(async () => (await texts(s, '[data-testid="patient-name"]'))[0], { what: 'Today', timeoutMs: 60000 });
}

/**
 * A seeded back end and the app signed in as `user`, showing Today; all
 * stopped by the test. `relaunch()` quits the app for real (its whole process
 * group) and starts it again on the same data, resolving to the new session.
 */
export async function signedInApp(t, { user = PATIENT.user, password = PATIENT.password, env = {} } = {}) {
  const backend = await startBackend();
  t.after(backend.stop);
  const appEnv = {
    CARECYCLE_DATA_DIR: tempDir('app'),
    CARECYCLE_SERVERS: `Riverside Knee & Hip Unit (demo)|${backend.fhirBase}`,
    BROWSER: SCRIPTED_BROWSER,
    CARECYCLE_E2E_USERNAME: user,
    CARECYCLE_E2E_PASSWORD: password,
    ...env,
  };
  let app = await launch(t, appEnv);
  await app.s.click(await app.s.find('[data-testid="sign-in-choice"]'));
  await waitForToday(app.s);
  const relaunch = async () => {
    await app.s.end();
    await app.driver.stop();
    app = await launch(t, appEnv);
    await waitForToday(app.s);
    return app.s;
  };
  return { s: app.s, backend, relaunch, dataDir: appEnv.CARECYCLE_DATA_DIR };
}
