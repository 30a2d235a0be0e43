// What the screen tests share: a seeded back end and the real app signed in
// through SMART (the scripted browser standing in for the system browser),
// screenshots at both sizes, and reading texts off the window.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from './webdriver.mjs';
import { APP, ARTIFACTS, SCRIPTED_BROWSER, startBackend, startDriver, tempDir } from './processes.mjs';

export const PATIENT = { user: 'eleanor', password: 'knee-demo-2026' };
export const SIZES = { desktop: [1280, 800], phone: [390, 844] };

export function save(name, png) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  writeFileSync(path, png);
  return path;
}

export async function texts(session, css) {
  return Promise.all((await session.findAll(css)).map((el) => session.text(el)));
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

/** A seeded back end and the app signed in as `user`, showing Today; all stopped by the test. */
export async function signedInApp(t, { user = PATIENT.user, password = PATIENT.password, env = {} } = {}) {
  const backend = await startBackend();
  t.after(backend.stop);
  const driver = await startDriver({
    CARECYCLE_DATA_DIR: tempDir('app'),
    CARECYCLE_SERVERS: `Riverside Knee & Hip Unit (demo)|${backend.fhirBase}`,
    BROWSER: SCRIPTED_BROWSER,
    CARECYCLE_E2E_USERNAME: user,
    CARECYCLE_E2E_PASSWORD: password,
    ...env,
  });
  t.after(driver.stop);
  const s = await Session.start(driver.base, APP);
  t.after(() => s.end());
  await s.setWindowSize(...SIZES.desktop);
  await s.click(await s.find('[data-testid="sign-in-choice"]'));
  await s.waitFor(async () => (await texts(s, '[data-testid="patient-name"]'))[0], { what: 'Today', timeoutMs: 60000 });
  return { s, backend };
}
