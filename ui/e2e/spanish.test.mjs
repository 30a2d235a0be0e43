// The app in Spanish, in the real window: the person switches language; the
// app's words, the reading (where the team wrote it in Spanish), the
// questionnaire's own Spanish text and the crisis guidance all follow, the
// page says lang="es", and the choice survives a restart. What the care team
// wrote with a Spanish translation (phases, appointments, roles, the
// condition) shows in Spanish.
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { PATIENT, findByText, lockStage, screenshots, signedInApp, team, texts } from './support/app.mjs';
import { axeViolations } from './support/axe.mjs';
import { tempDir } from './support/processes.mjs';

/**
 * Every fixed stretch (12 characters or more) of the app's English catalog
 * that its Spanish catalog does not also contain: none of them may show on a
 * screen in Spanish.
 */
function englishOfTheCatalog() {
  const source = readFileSync(new URL('../src/lib/i18n.svelte.ts', import.meta.url), 'utf8');
  const block = (start) => source.split(start)[1].split(/\n\}( as const)?;/)[0];
  const values = (text) => [...text.matchAll(/^\s+'[^']+':\s*(?:\n\s*)?(['"])((?:\\.|(?!\1).)*)\1/gm)].map((m) => m[2]);
  const spanish = values(block('const es: Record<Key, string> = {')).join('\n');
  return values(block('const en = {'))
    .flatMap((v) => v.split(/\{\w+\}/))
    .map((fragment) => fragment.trim())
    .filter((fragment) => fragment.length >= 12 && !spanish.includes(fragment));
}

const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);

test('a patient switches to Spanish: the app, the reading, a questionnaire and its guidance follow', async (t) => {
  const downloads = tempDir('downloads');
  const { s: first, backend, relaunch } = await signedInApp(t, { env: { CARECYCLE_DOWNLOAD_DIR: downloads } });
  team(backend, 'assign', '--patient', PATIENT.user, '--questionnaire', 'phq-9', '--from', day(-1), '--to', day(7), '--title', 'PHQ-9');
  // The team writes in both languages with its own tools.
  team(backend, 'appointment', '--patient', PATIENT.user, '--title', 'Blood test before surgery', '--title-es', 'Análisis de sangre antes de la cirugía',
    '--start', `${day(1)}T08:00:00-06:00`, '--prepare', 'Do not eat after midnight.', '--prepare-es', 'No coma después de la medianoche.');
  // ...and sometimes in English only: shown as written, marked English for screen readers.
  team(backend, 'appointment', '--patient', PATIENT.user, '--title', 'Wound check', '--start', `${day(2)}T09:00:00-06:00`,
    '--prepare', 'Bring your dressing kit.');

  await first.execute(
    `const el = document.querySelector('[data-testid="language"]');
     el.value = 'es'; el.dispatchEvent(new Event('change', { bubbles: true }));`,
  );
  await first.waitFor(async () => (await texts(first, '[data-testid="nav-today"]'))[0] === 'Hoy', { what: 'Spanish navigation' });
  assert.equal(await first.execute('return document.documentElement.lang'), 'es');

  // The choice is kept: after a restart the app is still in Spanish.
  const s = await relaunch();
  await s.waitFor(async () => (await texts(s, '[data-testid="nav-today"]'))[0] === 'Hoy', { what: 'Spanish after a restart' });
  assert.match(await s.text(await s.find('#steps-heading')), /Sus próximos pasos/);
  // What the team wrote, in the Spanish they gave with it (FHIR's translation extension).
  const today = await s.waitFor(
    async () => {
      const text = await s.text(await s.find('main'));
      return text.includes('Análisis de sangre') && text;
    },
    { what: "the team's new appointment, in Spanish" },
  );
  for (const spanish of ['Prehabilitación', 'Enfermera navegadora', 'Artrosis de rodilla', 'Análisis de sangre antes de la cirugía']) {
    assert.ok(today.includes(spanish), `${spanish} on Today`);
  }
  for (const english of ['Prehabilitation', 'Nurse navigator', 'Knee osteoarthritis', 'Blood test', 'Do not eat']) {
    assert.ok(!today.includes(english), `${english} on Today in Spanish`);
  }
  // Every piece of the team's text on Today says its language only where it
  // is not Spanish: the English-only appointment, its preparation, nothing else.
  const marked = await s.execute(
    `return [...document.querySelectorAll('main [lang]')].map((el) => el.getAttribute('lang') + ':' + el.textContent.trim());`,
  );
  assert.deepEqual(marked, ['en:Wound check', 'en:Bring your dressing kit.'], marked.join(' | '));
  assert.deepEqual(await axeViolations(s), [], 'Hoy has no accessibility violations');
  await screenshots(s, 'today-es');

  // Reading: the documents the team wrote in Spanish come in Spanish.
  await s.click(await s.find('[data-testid="nav-reading"]'));
  await s.waitFor(async () => (await texts(s, '[data-testid="doc-now"]')).length > 0, { what: 'the reading list' });
  assert.match(await s.text(await s.find('#now-heading')), /^Para donde está ahora/);
  const opened = await s.execute('return document.querySelector("[data-testid=doc-now]").textContent');
  await s.click((await s.findAll('[data-testid="doc-now"]'))[0]);
  assert.equal(await s.attribute(await s.find('[data-testid="doc"]'), 'lang'), 'es', `${opened} in Spanish`);
  await screenshots(s, 'reading-es');

  // The questionnaire in its official Spanish, guidance in Spanish.
  await s.click(await s.find('[data-testid="nav-questionnaires"]'));
  const entry = await findByText(s, '[data-testid="due-questionnaire"]', (x) => x.startsWith('PHQ-9'), 'the assigned PHQ-9');
  assert.match(await s.text(entry), /Antes del/);
  await s.click((await s.findIn(entry, '[data-testid="start-questionnaire"]'))[0]);
  const nine = await s.find('[data-testid="q-item"][data-link-id="/44260-8"]');
  const legend = await s.text((await s.findIn(nine, 'legend'))[0]);
  assert.match(legend, /mejor estar muerto|lastimarse/i, legend);
  const options = await s.findIn(nine, 'label.option');
  await s.click((await s.findIn(options[1], 'input'))[0]);
  const guidance = await s.waitFor(async () => s.text(await s.find('[data-testid="urgent"]')), { what: 'the guidance' });
  assert.match(guidance, /Por favor, busque apoyo ahora/);
  assert.match(guidance, /988/);
  assert.deepEqual(await axeViolations(s), [], 'the Spanish form has no accessibility violations');
  await screenshots(s, 'questionnaire-es');

  // Finished: the score, its band, its meaning and its direction in Spanish,
  // and the same on Results.
  await s.click(await s.find('[data-testid="guidance-continue"]'));
  const unanswered = await s.execute(`
    return [...document.querySelectorAll('[data-testid="q-item"]')]
      .filter((item) => item.querySelector('label.option input') && !item.querySelector('label.option input:checked'))
      .map((item) => item.dataset.linkId);`);
  for (const linkId of unanswered) {
    const item = await s.find(`[data-testid="q-item"][data-link-id="${linkId}"]`);
    const [, second] = await s.findIn(item, 'label.option input');
    await s.click(second);
  }
  await s.click(await s.find('[data-testid="submit"]'));
  const phq = await s.waitFor(async () => s.text(await s.find('[data-testid="score"][data-scale="phq-9"]')), { what: 'the score' });
  assert.match(phq, /Síntomas de depresión \(PHQ-9\)/);
  assert.match(phq, /Leve/);
  assert.match(phq, /Una puntuación más baja es mejor/);
  await screenshots(s, 'questionnaire-submitted-es');
  await s.click(await s.find('[data-testid="see-results"]'));
  const results = await s.waitFor(
    async () => {
      const text = await s.text(await s.find('[data-testid="results"]'));
      return /PHQ-9/.test(text) && text;
    },
    { what: 'Results' },
  );
  assert.match(results, /Síntomas de depresión \(PHQ-9\)/);
  for (const english of ['Mild', 'points', 'lower score', 'Depression symptoms', 'symptoms of depression']) {
    assert.ok(!phq.includes(english) && !results.includes(english), `${english} in Spanish results`);
  }
  assert.deepEqual(await axeViolations(s), [], 'Spanish results have no accessibility violations');
  await screenshots(s, 'results-es');

  // Messages: the kinds, a thread the team started without a subject, and the
  // crisis lines, all in Spanish.
  team(backend, 'send', '--patient', PATIENT.user, '--kind', 'billing', 'Your invoice is ready.');
  await s.click(await s.find('[data-testid="nav-messages"]'));
  const billing = await findByText(s, '[data-testid="thread"]', (x) => x.startsWith('Facturación y seguro'), 'the billing thread, named in Spanish');
  await s.click(billing);
  assert.equal(await s.text(await s.find('#thread-heading')), 'Facturación y seguro');
  await s.click(await findByText(s, 'button', (x) => x.startsWith('←'), 'back to the conversations'));
  await s.click(await s.find('[data-testid="new-message"]'));
  const kinds = await texts(s, 'label.radio');
  assert.deepEqual(kinds, [
    'Un síntoma o una pregunta sobre mi salud',
    'Citas y horarios',
    'Mis medicamentos',
    'Facturación y seguro',
    'Otra cosa',
  ]);
  await s.execute(
    `const t = document.querySelector('[data-testid="message-text"]');
     t.value = 'quiero morir'; t.dispatchEvent(new Event('input', { bubbles: true }));`,
  );
  await s.click(await s.find('[data-testid="send"]'));
  const urgent = await s.waitFor(async () => s.text(await s.find('[data-testid="urgent"]')), { what: 'the crisis guidance' });
  assert.match(urgent, /Línea de Prevención del Suicidio y Crisis/);
  assert.match(urgent, /Servicios de emergencia/);
  for (const english of ['Lifeline', 'Emergency services', 'Something else', 'Billing']) {
    assert.ok(!urgent.includes(english) && !kinds.join(' ').includes(english), `${english} in Spanish`);
  }
  assert.deepEqual(await axeViolations(s), [], 'Spanish messages have no accessibility violations');
  await screenshots(s, 'messages-es');

  // The calendar file the core words itself: in Spanish, with the team's Spanish.
  await s.click(await s.find('[data-testid="nav-care"]'));
  const blood = await findByText(s, '[data-testid="appointment"]', (x) => x.includes('Análisis de sangre'), 'the Spanish appointment');
  await s.click((await s.findIn(blood, '[data-testid="add-to-calendar"]'))[0]);
  const saved = await s.waitFor(async () => s.text(await s.find('[data-testid="saved"]')), { what: 'the saved calendar file' });
  const ics = readFileSync(/Guardado en (\S+\.ics)/.exec(saved)[1], 'utf8').replace(/\r\n[ \t]/g, '');
  assert.match(ics, /SUMMARY:Análisis de sangre antes de la cirugía/);
  assert.match(ics, /Cómo prepararse: No coma después de la medianoche\./);
  for (const english of ['How to prepare', 'With ', 'Blood test', 'Do not eat']) assert.ok(!ics.includes(english), `${english} in the Spanish .ics`);

  // Every screen, in Spanish, shows none of the app's English.
  for (const view of ['today', 'care', 'messages', 'team', 'reading', 'questionnaires', 'results']) {
    await s.click(await s.find(`[data-testid="nav-${view}"]`));
    await s.waitFor(async () => !(await s.execute('return document.querySelector("[aria-busy=true]") !== null')), { what: `${view} loaded` });
    await noEnglish(s, view);
  }
});

const ENGLISH = englishOfTheCatalog();

/** Fails when any stretch of the app's English catalog shows in the window now. */
async function noEnglish(s, where) {
  assert.ok(ENGLISH.length > 100, `the English catalog was read (${ENGLISH.length} fragments)`);
  const shown = await s.execute('return document.body.innerText');
  const leaks = ENGLISH.filter((fragment) => shown.includes(fragment));
  assert.deepEqual(leaks, [], `English on ${where} in Spanish`);
}

test('on a Spanish system, a family member signs in, sees the shared care and the lock screen in Spanish', async (t) => {
  // No choice made in the app: it follows the system's language, as a
  // phone or desktop set to Spanish starts it (the core and the window both).
  const spanishSystem = { LANG: 'es_MX.UTF-8', LANGUAGE: 'es_MX:es' };
  const { s, relaunch } = await signedInApp(t, {
    user: 'claire',
    password: 'daughter-demo-2026',
    env: spanishSystem,
    // The sign-in screen and the first passcode, before the record exists.
    before: async (first) => {
      await first.waitFor(async () => (await texts(first, '[data-testid="sign-in-choice"]')).length > 0, { what: 'the sign-in screen' });
      assert.equal(await first.execute('return document.documentElement.lang'), 'es');
      await noEnglish(first, 'sign-in');
      await screenshots(first, 'sign-in-es');
    },
    choosing: async (first) => {
      await noEnglish(first, 'choosing the passcode');
    },
  });
  const banner = await s.waitFor(async () => s.text(await s.find('[data-testid="family-banner"]')), { what: 'the family banner' });
  assert.match(banner, /^Está viendo la atención de Eleanor Whitfield como familiar\./);
  assert.match(banner, /los mensajes/);
  const nav = await texts(s, 'nav.sections button');
  assert.deepEqual(nav.slice(0, 2), ['Hoy', 'Mi atención'], nav.join(', '));
  await noEnglish(s, 'the family view');
  assert.deepEqual(await axeViolations(s), [], 'the Spanish family view has no accessibility violations');
  await screenshots(s, 'family-es');
  for (const view of ['care', 'team', 'reading']) {
    await s.click(await s.find(`[data-testid="nav-${view}"]`));
    await s.waitFor(async () => !(await s.execute('return document.querySelector("[aria-busy=true]") !== null')), { what: `${view} loaded` });
    await noEnglish(s, `the family view's ${view}`);
  }

  // Started again, the app is locked, in Spanish.
  const locked = await relaunch({ unlock: false });
  await locked.waitFor(async () => (await lockStage(locked)) === 'locked', { what: 'the lock screen' });
  assert.equal(await locked.text(await locked.find('h1')), 'CareCycle está bloqueado');
  await noEnglish(locked, 'the lock screen');
  await screenshots(locked, 'lock-es');
});
