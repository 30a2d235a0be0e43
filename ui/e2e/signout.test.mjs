// Signing out on a shared family computer: the app says first what will
// happen, offers to send what is still waiting, and then leaves nothing of
// that record behind — not in the data directory, not in the OS keyring — and
// the server no longer accepts its sign-in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startBackend } from './support/processes.mjs';
import { PATIENT, SIZES, findByText, save, screenshots, signedInApp, texts } from './support/app.mjs';
import { entries, signInAs } from './support/fhir.mjs';
import { axeViolations } from './support/axe.mjs';
import { everythingOn, invalidAmong } from './support/validate-fhir.mjs';

/** The OS keyring's CareCycle items (Secret Service on this session bus): their `username` attributes. */
function keyringUsers() {
  const gdbus = (...args) => execFileSync('gdbus', ['call', '--session', '--dest', 'org.freedesktop.secrets', ...args], { encoding: 'utf8' });
  const found = gdbus(
    '--object-path', '/org/freedesktop/secrets',
    '--method', 'org.freedesktop.Secret.Service.SearchItems', "{'service': 'dev.carecycle.app'}",
  );
  const paths = [...found.matchAll(/'(\/org\/freedesktop\/secrets\/collection\/[^']+)'/g)].map((m) => m[1]);
  return paths.map((path) => {
    const attrs = gdbus('--object-path', path, '--method', 'org.freedesktop.DBus.Properties.Get', 'org.freedesktop.Secret.Item', 'Attributes');
    return /'username': '([^']+)'/.exec(attrs)?.[1] ?? '?';
  });
}

function profileIds(dataDir) {
  const file = join(dataDir, 'profiles.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).map((p) => p.id) : [];
}

/** Every file under the data directory, as paths relative to it. */
function files(dataDir) {
  return readdirSync(dataDir, { recursive: true }).map(String);
}

test('signing out sends what is waiting, then removes the record from the device and ends the sign-in', async (t) => {
  const { s, backend, dataDir } = await signedInApp(t);
  const [id] = profileIds(dataDir);
  assert.ok(id, 'the record is listed on the device');
  assert.ok(files(dataDir).some((f) => f.includes(id)), 'its encrypted database is on disk');
  assert.ok(keyringUsers().some((u) => u.startsWith(`${id}/`)), 'its keys are in the keyring');
  assert.ok(keyringUsers().includes(`${id}/passcode`), 'its app passcode (a hash) is in the keyring');

  // A message written while the back end is away is waiting to be sent.
  await backend.stop();
  await s.click(await s.find('[data-testid="nav-messages"]'));
  await s.click(await findByText(s, '[data-testid="thread"]', 'Fish oil before surgery'));
  const reply = 'Signing out after this one — thank you.';
  await s.type(await s.find('[data-testid="message-text"]'), reply);
  await s.click(await s.find('[data-testid="send"]'));
  // Unsent either way: waiting for its next try, or marked not sent after one failed.
  await findByText(s, '[data-testid="message"]', (m) => m.includes(reply) && /Waiting to send|Not sent/.test(m));

  // Sign out: the app says what will happen, and what is not sent (the reply,
  // and the read mark on the team's messages in that thread).
  await s.click(await s.find('[data-testid="sign-out"]'));
  const unsent = await s.find('[data-testid="sign-out-unsent"]');
  assert.match(await s.text(unsent), /Not sent yet: 2\./);
  assert.match(await s.text(await s.find('[data-testid="sign-out-dialog"]')), /Your care team keeps everything/);
  assert.deepEqual(await axeViolations(s), [], 'the sign-out question has no accessibility violations');
  await screenshots(s, 'sign-out-unsent');
  // The same question in Spanish on the smallest phone: every word follows, nothing overflows.
  const language = (code) =>
    s.execute(
      `const el = document.querySelector('[data-testid="language"]');
       el.value = arguments[0]; el.dispatchEvent(new Event('change', { bubbles: true }));`,
      [code],
    );
  await s.setWindowSize(360, 640);
  await language('es');
  await s.waitFor(async () => /Aún sin enviar: 2\./.test(await s.text(await s.find('[data-testid="sign-out-unsent"]'))), {
    what: 'the sign-out question in Spanish',
  });
  assert.match(await s.text(await s.find('[data-testid="sign-out-dialog"]')), /Su equipo de atención lo conserva todo/);
  assert.equal(await s.execute('return document.documentElement.scrollWidth <= window.innerWidth'), true, 'no sideways scrolling at 360 px');
  save('sign-out-unsent-es-360.png', await s.screenshot());
  await language('en');
  await s.setWindowSize(...SIZES.desktop);

  // Back online, "send them first" sends it; then signing out is plain.
  const again = await startBackend({ dataDir: backend.dataDir, port: backend.port });
  t.after(again.stop);
  await s.click(await s.find('[data-testid="sign-out-send-first"]'));
  await s.click(await s.find('[data-testid="sign-out-confirm"]'));
  await s.find('[data-testid="sign-in-choice"]');
  assert.equal((await texts(s, '[data-testid="patient-name"]')).length, 0, 'no health information left on screen');

  const fhir = await signInAs(again.fhirBase, PATIENT.user, PATIENT.password);
  const sent = entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=200`)).filter((c) =>
    c.payload?.some((p) => p.contentString === reply),
  );
  assert.equal(sent.length, 1, 'the waiting message reached the team before signing out');

  // Nothing of that record remains on the device or in the keyring.
  assert.deepEqual(profileIds(dataDir), []);
  assert.deepEqual(files(dataDir).filter((f) => f.includes(id)), [], 'no file of that record is left');
  assert.deepEqual(keyringUsers().filter((u) => u.startsWith(`${id}/`)), [], 'no key of that record is left');
  // The server ended that sign-in: its audit log records the sign-out.
  const audit = entries(await fhir.get(`AuditEvent?_count=500&_sort=-_lastUpdated`));
  assert.ok(audit.some((e) => e.subtype?.[0]?.code === '110123'), 'the server recorded the sign-out (revocation)');
  // What the app wrote (the reply, the read marks) is valid R4 to a stock validator.
  assert.deepEqual(invalidAmong((await everythingOn(again.fhirBase)).resources), [], 'every resource on the server is valid R4');
});
