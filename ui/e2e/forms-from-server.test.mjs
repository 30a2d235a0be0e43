// Forms written the way other publishers write them, in the real window
// against the real back end: a PHQ-9 whose questions name LOINC's answer list
// LL358-3 by URL (the server expands it with ValueSet/$expand, the app keeps
// it) is answered and scored with the back end stopped; a form the team
// changed to carry a modifier extension the app does not understand is never
// opened — the patient is told, the team was told why when publishing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PATIENT, findByText, screenshots, signedInApp, team, texts } from './support/app.mjs';
import { ROOT, tempDir } from './support/processes.mjs';
import { axeViolations } from './support/axe.mjs';

const DAY = 86400000;
const day = (offset) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10);
const bundled = (name) => JSON.parse(readFileSync(join(ROOT, 'crates/carecycle-prom/questionnaires', name), 'utf8'));

/** LL358-3 as a ValueSet built from the bundled PHQ-9's own options (codes, words, weights 0–3). */
function phq9NamingItsAnswerList() {
  const q = bundled('phq-9.json');
  const options = q.item[1].answerOption;
  const same = JSON.stringify(options);
  const valueSet = {
    resourceType: 'ValueSet',
    id: 'll358-3',
    status: 'active',
    url: 'http://loinc.org/vs/LL358-3',
    compose: {
      include: [
        {
          system: 'http://loinc.org',
          concept: options.map((o) => ({ code: o.valueCoding.code, display: o.valueCoding.display, extension: o.extension })),
        },
      ],
    },
  };
  for (const item of q.item) {
    if (JSON.stringify(item.answerOption) === same) {
      delete item.answerOption;
      item.answerValueSet = valueSet.url;
    }
  }
  Object.assign(q, { id: 'phq9-loinc-list', url: 'https://forms.example.org/Questionnaire/phq9' });
  return { resourceType: 'Bundle', type: 'collection', entry: [{ resource: q }, { resource: valueSet }] };
}

function publish(backend, document) {
  const file = join(tempDir('form'), 'form.json');
  writeFileSync(file, JSON.stringify(document));
  return team(backend, 'publish-form', '--file', file);
}

// PHQ-9 (Kroenke, Spitzer & Williams 2001): items 0–3 summed; 10–14 is
// "moderate". Four × "Several days" (1) + four × "More than half the days" (2)
// + item 9 "Not at all" (0) = 12.
const ANSWERS = [
  ['/44250-9', 'Several days'],
  ['/44255-8', 'Several days'],
  ['/44259-0', 'Several days'],
  ['/44254-1', 'Several days'],
  ['/44251-7', 'More than half the days'],
  ['/44258-2', 'More than half the days'],
  ['/44252-5', 'More than half the days'],
  ['/44253-3', 'More than half the days'],
  ['/44260-8', 'Not at all'],
];

async function options(s, linkId) {
  const item = await s.find(`[data-testid="q-item"][data-link-id="${linkId}"]`);
  return Promise.all((await s.findIn(item, 'label.option')).map(async (o) => (await s.text(o)).trim()));
}

async function choose(s, linkId, label) {
  const item = await s.find(`[data-testid="q-item"][data-link-id="${linkId}"]`);
  for (const option of await s.findIn(item, 'label.option')) {
    if ((await s.text(option)).trim() === label) {
      const [input] = await s.findIn(option, 'input');
      await s.click(input);
      return;
    }
  }
  throw new Error(`no option "${label}" for ${linkId}`);
}

test('forms from elsewhere: a server answer list works offline; a form the app must refuse says so', async (t) => {
  const { s, backend } = await signedInApp(t);
  const phqTitle = 'Mood check (PHQ-9, LOINC answer list)';
  const gadTitle = 'Worry check (partner form)';
  const assign = (questionnaire, title) =>
    team(backend, 'assign', '--patient', PATIENT.user, '--questionnaire', questionnaire, '--from', day(-1), '--to', day(7), '--title', title);

  // The team publishes the form with its list and is told how the app reads it.
  const published = publish(backend, phq9NamingItsAnswerList());
  assert.match(published, /Questionnaire\/phq9-loinc-list[\s\S]*usable; scored as phq-9/);
  assign('phq9-loinc-list', phqTitle);

  // A partner's GAD-7, assigned, then changed to carry a modifier extension:
  // the team is told at once that the app refuses it and who is affected.
  const gad = { ...bundled('gad-7.json'), id: 'gad7-partner', url: 'https://partner.example.org/Questionnaire/gad7' };
  assert.match(publish(backend, gad), /usable; scored as gad-7/);
  assign('gad7-partner', gadTitle);
  const changed = publish(backend, {
    ...gad,
    modifierExtension: [{ url: 'https://partner.example.org/fhir/clinician-only', valueBoolean: true }],
  });
  assert.match(changed, /REFUSED by the app: .*clinician-only/);
  assert.match(changed, /1 open assignment\(s\)/);

  await s.click(await s.find('[data-testid="nav-questionnaires"]'));
  await s.waitFor(async () => (await texts(s, '[data-testid="due-questionnaire"]')).some((x) => x.includes(gadTitle)), {
    what: 'both assignments after a sync',
    timeoutMs: 60000,
  });
  // The list can show the assignment a moment before the same sync brings
  // the changed form; once it has, the app says it refuses it.
  const refused = await s.waitFor(
    async () => {
      const entry = await findByText(s, '[data-testid="due-questionnaire"]', gadTitle);
      return /cannot be shown in the app/.test(await s.text(entry)) && entry;
    },
    { what: 'the refused form, once synced', timeoutMs: 60000 },
  );
  assert.match(await s.text(refused), /cannot be shown in the app\. Your care team can see why/);
  assert.equal((await s.findIn(refused, '[data-testid="start-questionnaire"]')).length, 0, 'no way into a refused form');
  assert.deepEqual(await axeViolations(s), [], 'the list with a refused form has no accessibility violations');
  await screenshots(s, 'questionnaire-refused');

  // The back end goes away; the form and its answer list are on the device.
  await backend.stop();
  const entry = await findByText(s, '[data-testid="due-questionnaire"]', phqTitle);
  await s.click((await s.findIn(entry, '[data-testid="start-questionnaire"]'))[0]);
  await s.find('[data-testid="questionnaire-form"]');
  assert.deepEqual(await options(s, '/44250-9'), ['Not at all', 'Several days', 'More than half the days', 'Nearly every day']);
  for (const [id, label] of ANSWERS) await choose(s, id, label);
  await s.click(await s.find('[data-testid="submit"]'));
  await s.waitFor(async () => s.text(await s.find('[data-testid="submitted"]')), { what: 'the submitted page, offline' });
  const score = await s.find('[data-testid="score"][data-scale="phq-9"]');
  assert.equal(await s.text((await s.findIn(score, '[data-testid="score-value"]'))[0]), '12');
  assert.match(await s.text(score), /Moderate/);
  await screenshots(s, 'questionnaire-server-list-offline');
});
