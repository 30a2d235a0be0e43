// Reading in the real window: the documents for the current phase first, the
// others by phase, a document shown as sanitised HTML and marked read, and
// full-text search over the reading, all from the synced store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PATIENT, save, screenshots, signedInApp, texts } from './support/app.mjs';
import { entries, signInAs } from './support/fhir.mjs';
import { axeViolations } from './support/axe.mjs';

const USER = PATIENT.user;
const PASSWORD = PATIENT.password;

test('reading: current phase first, safe HTML, marked read, searchable', async (t) => {
  const { s, backend } = await signedInApp(t);
  const fhir = await signInAs(backend.fhirBase, USER, PASSWORD);
  const phases = entries(await fhir.get(`CarePlan?patient=${fhir.patient}&category=phase&_count=100`));
  const current = phases.find((p) => p.status === 'active');
  const docs = entries(await fhir.get(`DocumentReference?patient=${fhir.patient}&_count=100`));
  const forNow = docs
    .filter((d) => d.context?.related?.[0]?.reference === `CarePlan/${current.id}` && d.content[0].attachment.language === 'en')
    .map((d) => d.description)
    .sort();

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
  await screenshots(s, 'reading-doc');
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

  // "I have a question about this": a new message that names and links the reading.
  await s.click(await s.find('[data-testid="nav-reading"]'));
  await s.click((await s.waitFor(async () => (await s.findAll('[data-testid="doc-now"]')).length > 0 && s.findAll('[data-testid="doc-now"]'), { what: 'the list' }))[0]);
  const title = await s.text(await s.find('#doc-title'));
  await s.click(await s.find('[data-testid="ask-about"]'));
  assert.match(await s.text(await s.find('[data-testid="asking-about"]')), new RegExp(`“${title}”`));
  const question = 'Can I use a recumbent bike instead of walking?';
  await s.type(await s.find('[data-testid="message-text"]'), question);
  await s.click(await s.find('[data-testid="send"]'));
  const sent = await s.waitFor(
    async () =>
      entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=200`)).find((c) =>
        c.payload?.some((p) => p.contentString === question),
      ),
    { what: 'the question on the server' },
  );
  const doc = docs.find((d) => d.description === title);
  assert.equal(sent.about?.[0]?.reference, `DocumentReference/${doc.id}`);
  assert.equal(sent.topic?.text, `Question about “${title}”`);
});
