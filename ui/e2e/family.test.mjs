// A family member in the real window: the patient's name clearly shown, only
// the areas the patient granted (the daughter has the schedule and the
// reading, not the messages or questionnaires).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from './support/webdriver.mjs';
import { APP, ARTIFACTS, SCRIPTED_BROWSER, startBackend, startDriver, tempDir } from './support/processes.mjs';
import { axeViolations } from './support/axe.mjs';

function save(name, png) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  writeFileSync(path, png);
  return path;
}

test('a family member sees exactly the areas granted, with the patient named', async (t) => {
  const backend = await startBackend();
  t.after(backend.stop);
  const driver = await startDriver({
    CARECYCLE_DATA_DIR: tempDir('app'),
    CARECYCLE_SERVERS: `Riverside Knee & Hip Unit (demo)|${backend.fhirBase}`,
    BROWSER: SCRIPTED_BROWSER,
    CARECYCLE_E2E_USERNAME: 'claire',
    CARECYCLE_E2E_PASSWORD: 'daughter-demo-2026',
  });
  t.after(driver.stop);
  const s = await Session.start(driver.base, APP);
  t.after(() => s.end());
  await s.setWindowSize(1280, 800);
  await s.click(await s.find('[data-testid="sign-in-choice"]'));

  const name = await s.waitFor(async () => s.text(await s.find('[data-testid="patient-name"]')), { what: 'Today', timeoutMs: 60000 });
  assert.equal(name, 'Eleanor Whitfield');
  const banner = await s.waitFor(async () => s.text(await s.find('[data-testid="family-banner"]')), { what: 'the family banner' });
  assert.match(banner, /Eleanor Whitfield's care as a family member/);
  assert.match(banner, /the messages/);
  assert.match(banner, /the questionnaires/);
  assert.doesNotMatch(banner, /the reading|the schedule/);
  const nav = await Promise.all((await s.findAll('nav.sections button')).map((b) => s.text(b)));
  assert.deepEqual(nav, ['Today', 'My care', 'Care team', 'Reading'], 'no Messages for her');
  assert.ok((await s.findAll('[data-testid="next-step"]')).length > 0, 'the schedule is shared');
  assert.deepEqual(await axeViolations(s), [], 'the family view has no accessibility violations');
  save('family-desktop.png', await s.screenshot());
  await s.setWindowSize(390, 844);
  await new Promise((r) => setTimeout(r, 500));
  save('family-phone.png', await s.screenshot());
  await s.setWindowSize(1280, 800);

  await s.click(await s.find('[data-testid="nav-reading"]'));
  await s.waitFor(async () => (await s.findAll('[data-testid="doc-now"]')).length > 0, { what: 'the shared reading' });
});
