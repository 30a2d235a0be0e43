// Reading in the real window: the documents for the current phase first, the
// others by phase, a document shown as sanitised HTML and marked read, and
// full-text search over the reading, all from the synced store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from './support/webdriver.mjs';
import { APP, ARTIFACTS, SCRIPTED_BROWSER, startBackend, startDriver, tempDir } from './support/processes.mjs';
import { entries, signInAs } from './support/fhir.mjs';
import { axeViolations } from './support/axe.mjs';

const USER = 'eleanor';
const PASSWORD = 'knee-demo-2026';

function save(name, png) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  writeFileSync(path, png);
  return path;
}

async function texts(session, css) {
  return Promise.all((await session.findAll(css)).map((el) => session.text(el)));
}

test('reading: current phase first, safe HTML, marked read, searchable', async (t) => {
  const backend = await startBackend();
  t.after(backend.stop);
  const fhir = await signInAs(backend.fhirBase, USER, PASSWORD);
  const phases = entries(await fhir.get(`CarePlan?patient=${fhir.patient}&category=phase&_count=100`));
  const current = phases.find((p) => p.status === 'active');
  const docs = entries(await fhir.get(`DocumentReference?patient=${fhir.patient}&_count=100`));
  const forNow = docs
    .filter((d) => d.context?.related?.[0]?.reference === `CarePlan/${current.id}` && d.content[0].attachment.language === 'en')
    .map((d) => d.description)
    .sort();

  const driver = await startDriver({
    CARECYCLE_DATA_DIR: tempDir('app'),
    CARECYCLE_SERVERS: `Riverside Knee & Hip Unit (demo)|${backend.fhirBase}`,
    BROWSER: SCRIPTED_BROWSER,
    CARECYCLE_E2E_USERNAME: USER,
    CARECYCLE_E2E_PASSWORD: PASSWORD,
  });
  t.after(driver.stop);
  const s = await Session.start(driver.base, APP);
  t.after(() => s.end());
  await s.setWindowSize(1280, 800);
  await s.click(await s.find('[data-testid="sign-in-choice"]'));
  await s.waitFor(async () => (await texts(s, '[data-testid="patient-name"]'))[0], { what: 'Today', timeoutMs: 60000 });

  await s.click(await s.find('[data-testid="nav-reading"]'));
  const now = await s.waitFor(async () => {
    const list = await texts(s, '[data-testid="doc-now"]');
    return list.length > 0 && list;
  }, { what: 'the reading for the current phase' });
  assert.deepEqual([...now].sort(), forNow, `the ${current.title} reading comes first`);
  assert.match(await s.text(await s.find('#now-heading')), new RegExp(current.title));
  assert.ok((await texts(s, '[data-testid="doc-other"]')).length > 0);
  assert.deepEqual(await axeViolations(s), [], 'the reading list has no accessibility violations');
  save('reading-desktop.png', await s.screenshot());

  // A document: sanitised HTML (a list, no scripts or links), then marked read.
  await s.click((await s.findAll('[data-testid="doc-now"]'))[0]);
  const article = await s.find('[data-testid="doc"]');
  assert.ok((await s.findIn(article, 'li')).length > 0 || (await s.findIn(article, 'p')).length > 0);
  assert.equal((await s.findIn(article, 'script, a, img, iframe')).length, 0);
  assert.deepEqual(await axeViolations(s), [], 'a reading has no accessibility violations');
  await s.setWindowSize(390, 844);
  await new Promise((r) => setTimeout(r, 500));
  save('reading-doc-phone.png', await s.screenshot());
  await s.setWindowSize(1280, 800);
  await s.click(await s.find('button.back'));
  await s.waitFor(async () => (await texts(s, '[data-testid="doc-now"]')).some((x) => x.includes('· read')), {
    what: 'the opened reading marked read',
  });

  // Full-text search over the reading, Spanish included.
  await s.type(await s.find('[data-testid="reading-search"]'), 'rodilla');
  await s.click(await s.find('form.search button'));
  const hits = await s.waitFor(async () => {
    const list = await texts(s, '[data-testid="hit"]');
    return list.length > 0 && list;
  }, { what: 'search results' });
  assert.ok(hits.some((h) => h.includes('rodilla')), hits.join(' | '));
});
