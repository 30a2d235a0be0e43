// Issue #13 item 7: the app syncs with a FHIR server nobody here wrote.
// Medplum's FHIR router (@medplum/fhir-router, from npm) holds a copy of the
// demo record and answers every FHIR request; the wrapper around it only adds
// sign-in, a CapabilityStatement, and the stock validators on every write
// (support/foreign-fhir-server.mjs). In the real window the patient signs in
// there, sees their record, sends a message once, answers a questionnaire,
// and meets a change the team made at the same time, which they resolve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PATIENT, findByText, screenshots, signedInApp, tap, team, texts } from './support/app.mjs';
import { signInAs } from './support/fhir.mjs';
import { startBackend } from './support/processes.mjs';
import { startForeignServer } from './support/foreign-fhir-server.mjs';
import { everythingOn, formatProblems, validateAll } from './support/validate-fhir.mjs';

const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);
const of = async (repo, type, query) => (await repo.search({ resourceType: type, ...query })).entry?.map((e) => e.resource) ?? [];

test('the app syncs with a FHIR server nobody here wrote (Medplum fhir-router): pull, send once, a questionnaire, a conflict resolved', async (t) => {
  // The demo record, with a questionnaire assigned, copied to the other server.
  const source = await startBackend();
  t.after(source.stop);
  const title = 'Mood check (PHQ-9) — on the other server';
  const assigned = /Task\/(\S+)/.exec(
    team(source, 'assign', '--patient', PATIENT.user, '--questionnaire', 'phq-9', '--from', day(-1), '--to', day(7), '--title', title),
  )[1];
  const { patient } = await signInAs(source.fhirBase, PATIENT.user, PATIENT.password);
  const { resources } = await everythingOn(source.fhirBase);
  await source.stop();
  const other = await startForeignServer({ resources, account: { username: PATIENT.user, password: PATIENT.password, patient } });
  t.after(other.stop);
  const { repo } = other;

  // Pull: the patient's record, as the other server holds it.
  const { s } = await signedInApp(t, { server: { label: 'Lakeside Joint Unit (another FHIR server)', fhirBase: other.fhirBase } });
  const record = await repo.readResource('Patient', patient);
  const name = await s.waitFor(async () => (await texts(s, '[data-testid="patient-name"]'))[0], { what: 'the name on Today' });
  assert.ok(name.includes(record.name[0].given[0]), `Today shows ${name}`);
  const open = (await of(repo, 'Task', { filters: [{ code: 'patient', operator: 'eq', value: `Patient/${patient}` }] })).filter(
    (task) => task.code?.coding?.some((c) => c.code === 'checklist') && task.status === 'requested',
  );
  assert.ok(open.length > 0, 'the record has open checklist items');
  await s.waitFor(async () => (await texts(s, '[data-testid="checklist-item"]')).some((x) => x.includes(open[0].description)), {
    what: 'the checklist from the other server',
  });

  // Send once: a new message reaches the other server exactly one time.
  const words = 'Can I shower normally two weeks after the operation?';
  await tap(s, await s.find('[data-testid="nav-messages"]'));
  await tap(s, await s.find('[data-testid="new-message"]'));
  await s.type(await s.find('[data-testid="message-text"]'), words);
  await s.click(await s.find('[data-testid="send"]'));
  const sentThere = async () =>
    (await of(repo, 'Communication', {})).filter((c) => c.payload?.some((p) => p.contentString === words));
  await s.waitFor(async () => (await sentThere()).length === 1, { what: 'the message on the other server' });
  await s.waitFor(async () => /All your messages have been sent/.test(await s.text(await s.find('[data-testid="messages-status"]'))), {
    what: 'the status line',
  });
  assert.equal((await sentThere()).length, 1, 'sent exactly once');

  // A questionnaire: every question answered, submitted, the response there and the task done.
  await tap(s, await s.find('[data-testid="nav-questionnaires"]'));
  const entry = await findByText(s, '[data-testid="due-questionnaire"]', title);
  await tap(s, (await s.findIn(entry, '[data-testid="start-questionnaire"]'))[0]);
  await s.find('[data-testid="questionnaire-form"]');
  for (const item of await s.findAll('[data-testid="q-item"]')) {
    const options = await s.findIn(item, 'label.option input');
    if (options.length) await tap(s, options[0]);
  }
  await tap(s, await s.find('[data-testid="submit"]'));
  await s.find('[data-testid="submitted"]');
  const task = await s.waitFor(
    async () => {
      const now = await repo.readResource('Task', assigned);
      return now.status === 'completed' && now;
    },
    { what: 'the questionnaire task completed on the other server' },
  );
  const response = await repo.readReference(task.output[0].valueReference);
  assert.equal(response.status, 'completed');
  assert.equal(response.subject.reference, `Patient/${patient}`);

  // A conflict: the patient ticks a checklist item while their connection is
  // down, and the team puts the same item on hold meanwhile. Back online, the
  // patient sees the team's version, and keeps their own.
  const item = open[0];
  await tap(s, await s.find('[data-testid="nav-today"]'));
  const row = await findByText(s, '[data-testid="checklist-item"]', item.description);
  const updateNow = async () => {
    const [button] = await s.findAll('[data-testid="update-now"]');
    return button && (await s.property(button, 'disabled')) === false && button;
  };
  await s.waitFor(updateNow, { what: 'the first sync on Today done' });
  other.unreachable = true;
  await tap(s, (await s.findIn(row, 'input[type="checkbox"]'))[0]);
  await findByText(s, '[data-testid="checklist-state"]', 'waiting to reach your team');
  const current = await repo.readResource('Task', item.id);
  await repo.updateResource({ ...current, status: 'on-hold', note: [{ text: 'Wait for our call before booking.' }] });
  other.unreachable = false;
  // The tick waits out its retry delay (a few seconds at most): "Update now" until it goes.
  const conflict = await s.waitFor(
    async () => {
      const [shown] = await s.findAll('[data-testid="checklist-conflict"]');
      if (shown) return s.text(shown);
      const button = await updateNow();
      if (button) await tap(s, button);
      return null;
    },
    { what: 'the conflict on Today' },
  );
  assert.match(conflict, /changed this item while you were changing it/);
  assert.equal((await repo.readResource('Task', item.id)).status, 'on-hold', "nothing overwrote the team's change");
  await screenshots(s, 'checklist-conflict', { show: '[data-testid="checklist-conflict"]' });
  const language = (code) =>
    s.execute(
      `const select = document.querySelector('[data-testid="language"]');
       select.value = arguments[0]; select.dispatchEvent(new Event('change', { bubbles: true })); return true;`,
      [code],
    );
  await language('es');
  await findByText(s, '[data-testid="checklist-conflict"]', '¿Mantiene su cambio o el de ellos?');
  assert.equal(await s.text(await s.find('[data-testid="keep-mine"]')), 'Mantener mi cambio');
  await screenshots(s, 'checklist-conflict-es', { show: '[data-testid="checklist-conflict"]' });
  await language('en');
  await findByText(s, '[data-testid="checklist-conflict"]', 'Keep your change, or theirs?');
  await tap(s, await s.find('[data-testid="keep-mine"]'));
  const settled = await s.waitFor(
    async () => {
      const now = await repo.readResource('Task', item.id);
      return now.status === 'completed' && now;
    },
    { what: "the patient's change on the other server" },
  );
  assert.equal(settled.note?.[0]?.text, 'Wait for our call before booking.', "the team's note stands beside it");
  await s.waitFor(async () => (await s.findAll('[data-testid="checklist-conflict"]')).length === 0, { what: 'the conflict settled' });

  // Everything the app wrote there is valid R4 by the stock validators (the
  // server also refused anything invalid on the way in: none was).
  const written = other.writes.map((w) => w.resource).filter(Boolean);
  const byType = {};
  for (const r of written) byType[r.resourceType] = (byType[r.resourceType] ?? 0) + 1;
  for (const [type, n] of Object.entries(byType).sort()) t.diagnostic(`written to the other server: ${type} ×${n}`);
  assert.ok(byType.Communication >= 1 && byType.QuestionnaireResponse >= 1 && byType.Task >= 2, JSON.stringify(byType));
  assert.deepEqual(other.refused, [], 'the other server refused none of what the app wrote');
  const invalid = validateAll(written).filter((r) => r.problems.length > 0);
  assert.deepEqual(formatProblems(invalid), [], 'every resource the app wrote is valid R4');
});
