// Questionnaires in the real window against the real back end: the team
// assigns PHQ-9 and PROMIS Global Health with its command line; the patient
// answers half the PHQ-9, leaves, the app is quit and relaunched, the answers
// are still there and the draft reached the server; item 9 above "Not at all"
// brings crisis guidance at once; the score shown is the published scoring;
// the team's list flags it; PROMIS answered one question at a time at phone
// size gives the T-scores of the published tables, and Results charts them
// beside the baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PATIENT, SIZES, findByText, save, screenshots, signedInApp, tap, team, texts } from './support/app.mjs';
import { entries, signInAs } from './support/fhir.mjs';
import { axeViolations } from './support/axe.mjs';
import { everythingOn, invalidAmong } from './support/validate-fhir.mjs';

const DAY = 86400000;
const day = (offset) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10);

// PHQ-9 (Kroenke, Spitzer & Williams 2001): items score 0–3, the total is their
// sum, 10–14 is "moderate". Answers: four × "Several days" (1), four × "More
// than half the days" (2), item 9 "Several days" (1) → 4 + 8 + 1 = 13.
const PHQ9_FIRST_HALF = [
  ['/44250-9', 'Several days'],
  ['/44255-8', 'Several days'],
  ['/44259-0', 'Several days'],
  ['/44254-1', 'Several days'],
];
const PHQ9_REST = [
  ['/44251-7', 'More than half the days'],
  ['/44258-2', 'More than half the days'],
  ['/44252-5', 'More than half the days'],
  ['/44253-3', 'More than half the days'],
];

// PROMIS Global Health v1.2 (scoring manual, HealthMeasures): physical = Global03
// + Global06 + recoded pain (2 → 4) + Global08r = 4 + 4 + 4 + 4 = 16 → T 50.8;
// mental = Global02 + Global04 + Global05 + Global10r = 4 + 4 + 4 + 4 = 16 → T 53.3.
const PROMIS = {
  Global01: 'Very good',
  Global02: 'Very good',
  Global03: 'Very good',
  Global04: 'Very good',
  Global05: 'Very good',
  Global09r: 'Good',
  Global06: 'Mostly',
  Global10r: 'Rarely',
  Global08r: 'Mild',
  Global07r: '2',
};

async function item(s, linkId) {
  return s.find(`[data-testid="q-item"][data-link-id="${linkId}"]`);
}

async function choose(s, linkId, label) {
  for (const option of await s.findIn(await item(s, linkId), 'label.option')) {
    if ((await s.text(option)).trim() === label) {
      const [input] = await s.findIn(option, 'input');
      await tap(s, input);
      return;
    }
  }
  throw new Error(`no option "${label}" for ${linkId}`);
}

async function checked(s, linkId) {
  for (const option of await s.findIn(await item(s, linkId), 'label.option')) {
    const [input] = await s.findIn(option, 'input');
    if ((await s.attribute(input, 'checked')) === 'true') return (await s.text(option)).trim();
  }
  return null;
}

async function open(s, title) {
  // The list may be read again under the test (a sync finishing re-renders
  // it), and the section bar is redrawn when the window just changed size (the
  // phone's tab bar): a button found just before is then gone, and is found again.
  for (let attempt = 1; ; attempt++) {
    try {
      await tap(s, await s.find('[data-testid="nav-questionnaires"]'));
      const entry = await findByText(s, '[data-testid="due-questionnaire"]', title);
      const [start] = await s.findIn(entry, '[data-testid="start-questionnaire"]');
      const label = await s.text(start);
      await tap(s, start);
      await s.find('[data-testid="questionnaire-form"]');
      return { label };
    } catch (e) {
      if (attempt >= 3 || !/stale element/.test(String(e))) throw e;
    }
  }
}

async function progress(s) {
  return s.text(await s.find('.progress label'));
}

test('questionnaires: answer half, quit, relaunch, finish; published scores; red flag guidance and team flag; results over time', async (t) => {
  const { s: first, backend, relaunch } = await signedInApp(t);
  let s = first;
  const fhir = await signInAs(backend.fhirBase, PATIENT.user, PATIENT.password);
  const started = new Date().toISOString();
  const phqTitle = 'Mood check (PHQ-9) — this week';
  const promisTitle = 'General health (PROMIS) — this week';
  const assign = (questionnaire, title) =>
    /Task\/(\S+)/.exec(
      team(backend, 'assign', '--patient', PATIENT.user, '--questionnaire', questionnaire, '--from', day(-1), '--to', day(7), '--title', title),
    )[1];
  const phqTask = assign('phq-9', phqTitle);
  const promisTask = assign('promis-global-10', promisTitle);

  // The list: what to answer now, what comes later, what is done.
  await s.click(await s.find('[data-testid="nav-questionnaires"]'));
  await s.waitFor(async () => (await texts(s, '[data-testid="due-questionnaire"]')).some((x) => x.includes(promisTitle)), {
    what: 'the assignments after a sync',
  });
  const due = await texts(s, '[data-testid="due-questionnaire"]');
  assert.match(due.find((x) => x.includes(phqTitle)), new RegExp(`Due by ${new Intl.DateTimeFormat(undefined, { weekday: 'long' }).format(new Date(`${day(7)}T12:00:00Z`))}`));
  assert.ok((await texts(s, '[data-testid="done-questionnaire"]')).some((x) => x.includes('General health (PROMIS) — baseline')));
  assert.deepEqual(await axeViolations(s), [], 'the questionnaire list has no accessibility violations');
  await screenshots(s, 'questionnaires');

  // Half the PHQ-9 on the desktop (the whole form on one page), then leave.
  await open(s, phqTitle);
  assert.match(await progress(s), /^0 of \d+ questions answered/);
  for (const [id, label] of PHQ9_FIRST_HALF) await choose(s, id, label);
  await s.waitFor(async () => /^4 of \d+ questions answered/.test(await progress(s)), { what: 'progress after four answers' });
  await s.waitFor(async () => /saved on this device/.test(await s.text(await s.find('[data-testid="saved"]'))), {
    what: 'the answers saved on the device',
  });
  assert.deepEqual(await axeViolations(s), [], 'the form has no accessibility violations');
  await screenshots(s, 'questionnaire-form');
  await s.click(await s.find('[data-testid="form-leave"]'));
  // The draft reaches the team's server as an in-progress response.
  // Every response to the task's questionnaire written since the test began
  // (R4 links a response to its Task from the Task's output, checked below).
  const responsesFor = async (task) => {
    // An SDC Task names its form by canonical URL, as its `questionnaire` input.
    const { input } = await fhir.get(`Task/${task}`);
    const url = input?.find((i) => i.type?.coding?.some((c) => c.code === 'questionnaire'))?.valueCanonical?.split('|')[0];
    return entries(await fhir.get(`QuestionnaireResponse?patient=${fhir.patient}&_count=200`)).filter(
      (r) => r.questionnaire?.split('|')[0] === url && r.meta.lastUpdated >= started,
    );
  };
  const outputOf = async (task) => (await fhir.get(`Task/${task}`)).output?.[0]?.valueReference?.reference;
  // Four answers, and the form's own total as it stands (calculated items travel in the response).
  const answered = (r) => r.item?.filter((i) => i.linkId !== '/44261-6').length;
  const draftTotal = (r) => r.item?.find((i) => i.linkId === '/44261-6')?.answer?.[0]?.valueInteger;
  await s.waitFor(async () => (await responsesFor(phqTask)).some((r) => r.status === 'in-progress' && answered(r) === 4 && draftTotal(r) === 4), {
    what: 'the in-progress response on the server',
  });
  const listed = await s.waitFor(
    async () => (await texts(s, '[data-testid="due-questionnaire"]')).find((x) => x.includes(phqTitle) && x.includes('Continue')),
    { what: 'Continue on the started questionnaire' },
  );
  assert.match(listed, /Started/);

  // Quit for real and start again: the answers are still there.
  s = await relaunch();
  const { label } = await open(s, phqTitle);
  assert.match(label, /^Continue/);
  for (const [id, want] of PHQ9_FIRST_HALF) assert.equal(await checked(s, id), want, `${id} resumed`);
  assert.match(await progress(s), /^4 of \d+ questions answered/);

  for (const [id, choice] of PHQ9_REST) await choose(s, id, choice);
  // Item 9 above "Not at all": guidance at once, before anything is sent.
  await choose(s, '/44260-8', 'Several days');
  const guidance = await s.waitFor(async () => s.text(await s.find('[data-testid="urgent"]')), { what: 'crisis guidance' });
  assert.match(guidance, /988/);
  assert.match(guidance, /911/);
  assert.deepEqual(await axeViolations(s), [], 'the guidance has no accessibility violations');
  await screenshots(s, 'questionnaire-guidance');
  await s.click(await s.find('[data-testid="guidance-continue"]'));
  // The form carries its own total (LOINC 44261-6, an SDC calculatedExpression):
  // shown read-only with its value as the answers change, never asked.
  await s.waitFor(async () => (await s.text(await item(s, '/44261-6'))).includes('13'), { what: "the form's own total" });
  const total = await item(s, '/44261-6');
  assert.match(await s.text(total), /PHQ-9 total score\s*13/);
  assert.equal((await s.findIn(total, 'input, select, textarea')).length, 0, 'the total is not a question');
  assert.match(await progress(s), /^9 of 10 questions answered/);
  await s.execute('document.querySelector(\'[data-link-id="/44261-6"]\').scrollIntoView({ block: "center" })');
  save('questionnaire-total-desktop.png', await s.screenshot());
  await choose(s, '/69722-7', 'Somewhat difficult');
  await s.click(await s.find('[data-testid="submit"]'));

  const submitted = await s.waitFor(async () => s.text(await s.find('[data-testid="submitted"]')), { what: 'the submitted page' });
  assert.ok(submitted.indexOf('988') < submitted.indexOf('Thank you'), 'the guidance comes before the score');
  const phqScore = await s.find('[data-testid="score"][data-scale="phq-9"]');
  assert.equal(await s.text((await s.findIn(phqScore, '[data-testid="score-value"]'))[0]), '13');
  assert.match(await s.text(phqScore), /Moderate/);
  assert.match(await s.text(phqScore), /lower score is better/i);
  assert.deepEqual(await axeViolations(s), [], 'the submitted page has no accessibility violations');
  await screenshots(s, 'questionnaire-submitted');

  // Exactly one response, completed, and the task done; the team's list flags it.
  await s.waitFor(
    async () => {
      const rs = await responsesFor(phqTask);
      return rs.length === 1 && rs[0].status === 'completed';
    },
    { what: 'one completed response on the server' },
  );
  const [phqServer] = await responsesFor(phqTask);
  assert.equal(await outputOf(phqTask), `QuestionnaireResponse/${phqServer.id}`, 'the task names its response');
  assert.equal(answered(phqServer), 10, 'nine items and the difficulty question');
  assert.equal(draftTotal(phqServer), 13, "the form's own total travels with the answers");
  assert.ok(!team(backend, 'responses').includes('CHECK THE FORM'), "the form's total agrees with the published scoring");
  assert.equal((await fhir.get(`Task/${phqTask}`)).status, 'completed');
  const flags = team(backend, 'flags');
  assert.ok(flags.includes(`QuestionnaireResponse/${phqServer.id}`), flags);
  assert.match(flags, /PHQ-9 item 9/);

  // PROMIS at phone size: one question (or group) at a time.
  await s.setWindowSize(...SIZES.phone);
  await tap(s, await s.find('[data-testid="submitted"] button:last-child'));
  await open(s, promisTitle);
  let pages = 0;
  for (;;) {
    const shown = await s.findAll('[data-testid="q-item"]');
    for (const el of shown) {
      const id = await s.attribute(el, 'data-link-id');
      if (PROMIS[id]) await choose(s, id, PROMIS[id]);
    }
    pages += 1;
    if (pages === 1) save('questionnaire-page-phone.png', await s.screenshot());
    const [, at, of] = /page (\d+) of (\d+)/.exec(await progress(s)) ?? [];
    if (!at || at === of) break;
    await tap(s, await s.find('[data-testid="next-page"]'));
    await s.waitFor(async () => (await progress(s)).includes(`page ${Number(at) + 1} of`), { what: `the next page after ${at}` });
  }
  assert.equal(pages, 8, 'seven questions and the "past 7 days" group, one page each');
  await tap(s, await s.find('[data-testid="submit"]'));
  await s.find('[data-testid="submitted"]');
  const value = async (scale) =>
    s.text((await s.findIn(await s.find(`[data-testid="score"][data-scale="${scale}"]`), '[data-testid="score-value"]'))[0]);
  assert.equal(await value('promis-global-physical'), '50.8');
  assert.equal(await value('promis-global-mental'), '53.3');
  save('promis-submitted-phone.png', await s.screenshot());
  await s.waitFor(async () => (await responsesFor(promisTask)).map((r) => r.status).join() === 'completed', {
    what: 'the PROMIS response on the server, once',
  });
  await s.setWindowSize(...SIZES.desktop);

  // Results: each scale over time, the seeded baseline and today, with meaning.
  await s.click(await s.find('[data-testid="see-results"]'));
  const physical = await s.waitFor(
    async () => {
      const el = await s.find('[data-testid="result-series"][data-scale="promis-global-physical"]');
      return (await s.findIn(el, '[data-testid="chart-point"]')).length === 2 && el;
    },
    { what: 'two points on the physical health chart' },
  );
  const points = await s.findIn(physical, '[data-testid="chart-point"]');
  assert.deepEqual(await Promise.all(points.map((p) => s.attribute(p, 'data-value'))), ['34.9', '50.8']);
  const text = await s.text(physical);
  assert.match(text, /higher score is better/i);
  assert.match(await s.text((await s.findIn(physical, '[data-testid="change"]'))[0]), /better/i);
  assert.ok((await s.findAll('[data-testid="result-series"][data-scale="phq-9"]')).length === 1);
  assert.deepEqual(await axeViolations(s), [], 'results have no accessibility violations');
  await s.execute('document.querySelector(\'[data-scale="promis-global-physical"]\').scrollIntoView()');
  await screenshots(s, 'results');

  // What the app wrote (drafts, answers, task status, read marks) is valid R4 to a stock validator.
  const { resources } = await everythingOn(backend.fhirBase);
  assert.deepEqual(invalidAmong(resources), [], 'every resource on the server is valid R4');
});
