// Offline for real: a half-written reply survives the app being quit; then
// the back end goes away while the patient is in the thread. The reply they write shows as waiting, the app keeps working from
// the device, and when the back end is back (same address, same data) the
// reply reaches the team exactly once, with no action from the patient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend } from './support/processes.mjs';
import { PATIENT, findByText, screenshots, signedInApp, texts } from './support/app.mjs';
import { entries, signInAs } from './support/fhir.mjs';
import { axeViolations } from './support/axe.mjs';

async function openFishOil(s) {
  await s.click(await s.find('[data-testid="nav-messages"]'));
  await s.click(await findByText(s, '[data-testid="thread"]', 'Fish oil before surgery'));
  return s.find('[data-testid="message-text"]');
}

test('a draft survives a restart; a reply written offline shows as waiting and arrives once after reconnect', async (t) => {
  const { s: first, backend, relaunch } = await signedInApp(t, { env: { CARECYCLE_SYNC_EVERY_SECS: '2' } });
  const start = 'Thank you, I stopped the fish oil';
  const reply = `${start} this morning.`;

  // Half a reply, then the app is quit: the text is still there after relaunch.
  await first.type(await openFishOil(first), start);
  // Quit only once the draft is on the device (the screen keeps it after a
  // short pause in typing): the text the patient wrote, in any thread.
  const savedDraft = () =>
    first.executeAsync(`
      const done = arguments[arguments.length - 1];
      const ipc = window.__TAURI_INTERNALS__;
      ipc.invoke('app_overview', {}).then(async (o) => {
        const profileId = o.profiles[0].id;
        for (const thread of await ipc.invoke('threads', { profileId })) {
          const draft = await ipc.invoke('message_draft', { profileId, thread: thread.id });
          if (draft) return draft;
        }
        return null;
      }).then(done, (e) => done('error: ' + JSON.stringify(e)));
    `);
  await first.waitFor(async () => (await savedDraft()) === start, { what: 'the draft saved on the device' });
  const s = await relaunch();
  const field = await openFishOil(s);
  await s.waitFor(async () => (await s.property(field, 'value')) === start, { what: 'the draft after a restart' });

  // The back end goes away; the patient finishes the reply.
  await backend.stop();
  await s.type(field, ' this morning.');
  await s.click(await s.find('[data-testid="send"]'));
  const waiting = await s.waitFor(
    async () => (await texts(s, '[data-testid="message"]')).find((m) => m.includes(reply) && /Waiting to send/.test(m)),
    { what: 'the reply waiting to send' },
  );
  assert.ok(waiting);
  await s.waitFor(async () => /waiting to send/.test(await s.text(await s.find('[data-testid="messages-status"]'))), {
    what: 'the status line saying it is waiting',
  });
  // Everything already on the device still reads.
  assert.ok((await texts(s, '[data-testid="message"]')).some((m) => m.includes('stop fish oil 7 days before surgery')));
  assert.deepEqual(await axeViolations(s), [], 'the offline thread has no accessibility violations');
  await screenshots(s, 'offline-waiting');

  // Back at the same address with the same data: the background sync sends it.
  const again = await startBackend({ dataDir: backend.dataDir, port: backend.port });
  t.after(again.stop);
  await s.waitFor(async () => /All your messages have been sent/.test(await s.text(await s.find('[data-testid="messages-status"]'))), {
    what: 'the reply sent after reconnect',
    timeoutMs: 60000,
  });
  assert.ok(!(await texts(s, '[data-testid="message"]')).some((m) => m.includes(reply) && /Waiting to send/.test(m)));

  const fhir = await signInAs(again.fhirBase, PATIENT.user, PATIENT.password);
  const copies = entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=200`)).filter((c) =>
    c.payload?.some((p) => p.contentString === reply),
  );
  assert.equal(copies.length, 1, 'exactly once on the server');
  assert.ok(copies[0].partOf?.length || copies[0].inResponseTo?.length, 'in its thread');
});
