// Several records on one device: a person signs in to a second record and
// switches between them; each shows its own person and only its own data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './support/processes.mjs';
import { PATIENT, passLock, screenshots, signedInApp, texts } from './support/app.mjs';
import { axeViolations } from './support/axe.mjs';

const SECOND = { user: 'dana', password: 'breast-demo-2026' };

async function name(s) {
  return s.text(await s.find('[data-testid="patient-name"]'));
}

async function threads(s) {
  await s.click(await s.find('[data-testid="nav-messages"]'));
  await s.find('[data-testid="messages-status"]');
  await new Promise((r) => setTimeout(r, 500));
  return texts(s, '[data-testid="thread"] .subject');
}

test('a person with two records adds the second and switches between them', async (t) => {
  const accounts = join(tempDir('accounts'), 'next');
  writeFileSync(accounts, `${PATIENT.user}\n${PATIENT.password}`);
  const { s } = await signedInApp(t, { env: { CARECYCLE_E2E_ACCOUNT_FILE: accounts } });
  const first = await name(s);
  assert.equal(first, 'Eleanor Whitfield');
  assert.equal((await s.findAll('[data-testid="profile-switch"]')).length, 0, 'one record: nothing to switch');

  // Add the second record: the same sign-in, another account.
  writeFileSync(accounts, `${SECOND.user}\n${SECOND.password}`);
  await s.click(await s.find('[data-testid="add-profile"]'));
  await s.click(await s.find('[data-testid="sign-in-choice"]'));
  // Each record has its own app passcode, chosen at its first sign-in.
  await passLock(s);
  const second = await s.waitFor(async () => {
    const n = await name(s).catch(() => null);
    return n && n !== first && n;
  }, { what: 'the second record', timeoutMs: 60000 });
  await s.find('[data-testid="profile-switch"]');
  const options = await texts(s, '[data-testid="profile-switch"] option');
  assert.deepEqual(options.sort(), [first, second].sort());
  assert.deepEqual(await axeViolations(s), [], 'two records: no accessibility violations');
  await screenshots(s, 'profiles');
  const secondThreads = await threads(s);
  assert.ok(!secondThreads.includes('Fish oil before surgery'), "the other person's messages are not here");

  // Switch back: Eleanor's record, with her own messages.
  await s.execute(
    `const el = document.querySelector('[data-testid="profile-switch"]');
     const opt = [...el.options].find((o) => o.text === arguments[0]);
     el.value = opt.value; el.dispatchEvent(new Event('change', { bubbles: true }));`,
    [first],
  );
  await s.waitFor(async () => (await name(s).catch(() => null)) === first, { what: 'switching back' });
  assert.ok((await threads(s)).includes('Fish oil before surgery'));
});
