// A family member in the real window: the patient's name clearly shown, only
// the areas the patient granted (the daughter has the schedule and the
// reading, not the messages or questionnaires).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshots, signedInApp } from './support/app.mjs';
import { axeViolations } from './support/axe.mjs';

test('a family member sees exactly the areas granted, with the patient named', async (t) => {
  const { s } = await signedInApp(t, { user: 'claire', password: 'daughter-demo-2026' });
  const name = await s.waitFor(async () => s.text(await s.find('[data-testid="patient-name"]')), { what: 'Today' });
  assert.equal(name, 'Eleanor Whitfield');
  const banner = await s.waitFor(async () => s.text(await s.find('[data-testid="family-banner"]')), { what: 'the family banner' });
  assert.match(banner, /Eleanor Whitfield's care as a family member/);
  assert.match(banner, /the messages/);
  assert.match(banner, /the questionnaires/);
  assert.doesNotMatch(banner, /the reading|the schedule/);
  const nav = await Promise.all((await s.findAll('nav.sections button')).map((b) => s.text(b)));
  assert.deepEqual(nav, ['Today', 'My care', 'Care team', 'Reading'], 'no Messages for her');
  assert.ok((await s.findAll('[data-testid="next-step"]')).length > 0, 'the schedule is shared');
  assert.deepEqual(await axeViolations(s), [], 'the family view has no accessibility violations');
  await screenshots(s, 'family');

  await s.click(await s.find('[data-testid="nav-reading"]'));
  await s.waitFor(async () => (await s.findAll('[data-testid="doc-now"]')).length > 0, { what: 'the shared reading' });
});
