// Notifications for real: a recording notification service on the session
// bus stands in for the desktop's. What was already in the record notifies
// nothing; then the team sends a message, assigns a questionnaire, books an
// appointment for tomorrow and adds a checklist item due tomorrow, and each
// arrives once, saying nothing about health. With detail switched on, a
// message names its sender and subject. With no notification service the
// app carries on and says so. A tap on a notification syncs at once — what a
// phone does instead of a background timer — through the same notification
// plugin the phones use; in Spanish, notifications are Spanish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNotificationRecorder, tempDir } from './support/processes.mjs';
import { PATIENT, findByText, screenshots, signedInApp, team, texts } from './support/app.mjs';
import { axeViolations } from './support/axe.mjs';

/** The unit's calendar (the demo unit is in Chicago). */
function clinicDay(offsetDays) {
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Chicago' }).format(new Date());
  const d = new Date(`${today}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + offsetDays);
  return d.toISOString().slice(0, 10);
}

function delivered(log) {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The recording service, and the patient signed in and synced once, syncing every `every` seconds. */
async function signedInWithRecorder(t, name, every) {
  const log = join(tempDir(name), 'delivered.jsonl');
  const recorder = await startNotificationRecorder(log);
  t.after(recorder.stop);
  const { s, backend } = await signedInApp(t, { env: { CARECYCLE_SYNC_EVERY_SECS: String(every) } });
  await s.waitFor(async () => /Up to date/.test(await s.text(await s.find('[data-testid="sync-status"]'))), { what: 'the first sync' });
  return { s, backend, log, recorder };
}

test('notifications: new things notify once without health details; detail on request; no service, no problem', async (t) => {
  const { s, backend, log, recorder } = await signedInWithRecorder(t, 'notifications', 2);

  // Several background syncs later, what was already there has notified nothing.
  await sleep(5000);
  assert.deepEqual(delivered(log), [], 'nothing already in the record notifies');

  const secret = 'Your potassium result came back a little low';
  team(backend, 'send', '--patient', PATIENT.user, '--kind', 'clinical', secret);
  team(backend, 'assign', '--patient', PATIENT.user, '--questionnaire', 'gad-7', '--from', clinicDay(-1), '--to', clinicDay(6), '--title', 'Worry check (GAD-7)');
  team(backend, 'appointment', '--patient', PATIENT.user, '--title', 'Wound check with the nurse', '--start', `${clinicDay(1)}T10:00:00-06:00`, '--place', 'Clinic B, room 4');
  team(backend, 'activity', '--patient', PATIENT.user, '--title', 'Stop taking ibuprofen', '--due', clinicDay(1));

  const first = await s.waitFor(async () => delivered(log).length >= 4 && delivered(log), { what: 'four notifications', timeoutMs: 30000 });
  await sleep(5000);
  assert.equal(delivered(log).length, 4, 'each once');
  assert.deepEqual(
    first.map((n) => n.body).sort(),
    [
      'A questionnaire from your care team is ready for you.',
      'New message from your care team',
      'Something on your checklist is due tomorrow.',
      'You have an appointment tomorrow.',
    ],
  );
  for (const n of first) {
    assert.match(n.app, /^carecycle/i, 'the app the notification service names');
    assert.equal(n.summary, 'CareCycle');
    for (const word of ['potassium', 'GAD', 'Worry', 'Wound', 'ibuprofen', 'Priya', 'Eleanor']) {
      assert.ok(!JSON.stringify(n).includes(word), `${word} in ${JSON.stringify(n)}`);
    }
  }

  // The patient asks for detail: the next message says who and about what.
  const detail = await s.find('[data-testid="notification-detail"]');
  await s.click(detail);
  await s.waitFor(async () => (await s.attribute(detail, 'checked')) === 'true', { what: 'detail switched on' });
  team(backend, 'send', '--patient', PATIENT.user, '--kind', 'scheduling', 'Can you come at 9 instead?');
  const detailed = await s.waitFor(async () => delivered(log)[4], { what: 'the detailed notification' });
  assert.equal(detailed.summary, 'Message from Priya Raman, RN');
  assert.match(detailed.body, /^About: /);
  assert.ok(!detailed.body.includes('Can you come at 9'), 'the message text itself never goes in a notification');
  assert.deepEqual(await axeViolations(s), [], 'Today with the notification settings has no accessibility violations');
  await screenshots(s, 'notification-settings');

  // No notification service: the app carries on and says so.
  await recorder.stop();
  team(backend, 'send', '--patient', PATIENT.user, '--kind', 'other', 'One more thing about parking.');
  await s.waitFor(async () => (await s.findAll('[data-testid="notifications-unavailable"]')).length === 1, {
    what: 'the app saying notifications are not showing',
    timeoutMs: 30000,
  });
  await s.click(await s.find('[data-testid="nav-messages"]'));
  // The team wrote without a subject: the thread is named by its kind.
  const thread = await findByText(s, '[data-testid="thread"]', (x) => x.startsWith('Something else'), 'the new thread arriving anyway');
  await s.click(thread);
  await s.waitFor(async () => (await texts(s, '[data-testid="message"]')).some((m) => m.includes('One more thing about parking.')), {
    what: 'the message in its thread',
  });
  assert.equal(delivered(log).length, 5);
});

test('notifications: a tap brings the app up to date at once', async (t) => {
  // No timer within the test: only "Update now" and the tap sync.
  const { s, backend, log } = await signedInWithRecorder(t, 'notification-tap', 3600);

  team(backend, 'send', '--patient', PATIENT.user, '--kind', 'other', 'The car park is free on Saturdays.');
  await s.click(await findByText(s, 'button', (x) => x === 'Update now', 'the update button'));
  await s.waitFor(async () => delivered(log).length === 1, { what: 'the first message notifying' });

  // In Spanish, notifications are Spanish too.
  await s.execute(
    `const el = document.querySelector('[data-testid="language"]');
     el.value = 'es'; el.dispatchEvent(new Event('change', { bubbles: true }));`,
  );
  await s.waitFor(async () => (await texts(s, '[data-testid="nav-today"]'))[0] === 'Hoy', { what: 'Spanish' });
  team(backend, 'send', '--patient', PATIENT.user, '--kind', 'scheduling', 'Bring your walking frame on Monday.');
  await sleep(2000);
  assert.equal(delivered(log).length, 1, 'without a sync, nothing new arrives');
  writeFileSync(`${log}.tap`, '');
  const second = await s.waitFor(async () => delivered(log)[1], { what: 'the tap syncing: the second message notifies', timeoutMs: 20000 });
  assert.equal(second.body, 'Nuevo mensaje de su equipo de atención');
  await s.click(await s.find('[data-testid="nav-messages"]'));
  const thread = await findByText(s, '[data-testid="thread"]', (x) => x.startsWith('Citas y horarios'), 'the thread');
  await s.click(thread);
  await s.waitFor(async () => (await texts(s, '[data-testid="message"]')).some((m) => m.includes('Bring your walking frame')), {
    what: 'the message the tap brought in',
  });
});
