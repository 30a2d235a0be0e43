// The app on a phone, in the real window: at 390×844 and 360×640 every screen
// is reached through the bottom tab bar (and "More"), and on each one nothing
// reaches past the screen's width, every control is at least 44×44 px, and
// axe finds nothing; the same at 200% text size, and in Spanish. The wide
// window keeps its sections across the top.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSCODE, PATIENT, findByText, save, signedInApp, tap, team, texts } from './support/app.mjs';
import { axeViolations } from './support/axe.mjs';
import { OVERFLOW, SMALL_TARGETS, TAB_BAR } from './support/phone.mjs';

const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);
const PHONES = [
  [390, 844],
  [360, 640],
];
const TITLE = 'Mood check (PHQ-9) — this week';

async function resize(s, width, height) {
  await s.setWindowSize(width, height);
  await s.waitFor(async () => (await s.execute('return window.innerWidth')) <= width, { what: `a window ${width} px wide` });
  await new Promise((r) => setTimeout(r, 400));
}

/** Screenshot, axe, nothing sideways, big enough targets: on the screen shown now. */
async function check(s, name, { axe = true } = {}) {
  // Let the screen settle (data read from the core, the bar measured).
  await new Promise((r) => setTimeout(r, 300));
  const path = save(`${name}.png`, await s.screenshot());
  assert.deepEqual(await s.execute(OVERFLOW), [], `${name}: nothing reaches past the screen's width (${path})`);
  assert.deepEqual(await s.execute(SMALL_TARGETS), [], `${name}: every control is at least 44×44 px (${path})`);
  if (axe) assert.deepEqual(await axeViolations(s), [], `${name}: no accessibility violations (${path})`);
  return path;
}

async function tab(s, view) {
  await tap(s, await s.find(`[data-testid="nav-${view}"]`));
}

async function fromMore(s, view) {
  await tab(s, 'more');
  await tap(s, await s.find(`[data-testid="more-${view}"]`));
}

/** Every screen, reached the way a patient does on a phone; `prefix` names the screenshots. */
async function everyScreen(s, prefix, opts = {}) {
  const shots = [];
  await tab(s, 'today');
  await s.find('[data-testid="patient-name"]');
  shots.push(await check(s, `${prefix}-today`, opts));

  await tab(s, 'messages');
  await s.find('[data-testid="thread"]');
  shots.push(await check(s, `${prefix}-messages`, opts));
  await tap(s, (await s.findAll('[data-testid="thread"]'))[0]);
  await s.find('[data-testid="message"]');
  shots.push(await check(s, `${prefix}-thread`, opts));

  await tab(s, 'questionnaires');
  const entry = await findByText(s, '[data-testid="due-questionnaire"]', TITLE);
  shots.push(await check(s, `${prefix}-questionnaires`, opts));
  await tap(s, (await s.findIn(entry, '[data-testid="start-questionnaire"]'))[0]);
  await s.find('[data-testid="questionnaire-form"] label.option');
  shots.push(await check(s, `${prefix}-questionnaire-form`, opts));

  await tab(s, 'care');
  await s.find('[data-testid="timeline-phase"]');
  shots.push(await check(s, `${prefix}-care`, opts));

  await tab(s, 'more');
  await s.find('[data-testid="more"]');
  shots.push(await check(s, `${prefix}-more`, opts));

  await fromMore(s, 'team');
  await s.find('[data-testid="team-member"]');
  shots.push(await check(s, `${prefix}-team`, opts));

  await fromMore(s, 'reading');
  await s.find('[data-testid="doc-now"]');
  shots.push(await check(s, `${prefix}-reading`, opts));
  await tap(s, (await s.findAll('[data-testid="doc-now"]'))[0]);
  await s.find('[data-testid="doc"]');
  shots.push(await check(s, `${prefix}-reading-doc`, opts));

  await fromMore(s, 'results');
  await s.find('[data-testid="result-series"]');
  await s.execute('document.querySelectorAll("[data-testid=results] details").forEach((d) => { d.open = true; })');
  shots.push(await check(s, `${prefix}-results`, opts));
  await tab(s, 'today');
  return shots;
}

test('on a phone: a bottom tab bar reaches every screen; nothing sideways, 44 px targets, axe clean, 200% text, Spanish', async (t) => {
  const { s, backend } = await signedInApp(t);
  team(backend, 'assign', '--patient', PATIENT.user, '--questionnaire', 'phq-9', '--from', day(-1), '--to', day(7), '--title', TITLE);

  // The wide window: the sections across the top, no tab bar.
  assert.equal(await s.execute(TAB_BAR), null, 'no tab bar on a wide window');
  assert.deepEqual(await texts(s, 'nav button'), ['Today', 'My care', 'Messages', 'Care team', 'Reading', 'Questionnaires', 'Results']);
  save('phone-layout-desktop.png', await s.screenshot());

  for (const [width, height] of PHONES) {
    await resize(s, width, height);
    const bar = await s.waitFor(() => s.execute(TAB_BAR), { what: 'the tab bar' });
    t.diagnostic(`${width}×${height}: inner ${bar.width}×${bar.height}`);
    assert.deepEqual(
      bar.tabs.map((x) => x.label),
      ['Today', 'Messages', 'Questionnaires', 'My care', 'More'],
      'the sections used most, then More',
    );
    assert.ok(Math.abs(bar.barBottom - bar.height) <= 1, `the bar sits at the bottom: ${JSON.stringify(bar)}`);
    assert.ok(new Set(bar.tabs.map((x) => Math.round(x.top))).size === 1, `one row of tabs at normal text size: ${JSON.stringify(bar.tabs)}`);
    assert.equal(await s.execute('return document.querySelector("[data-testid=add-profile]")?.getClientRects().length ?? 0'), 0, 'the account actions are under More');
    const shots = await everyScreen(s, `phone-${width}`);
    t.diagnostic(`screenshots: ${shots.join(', ')}`);

    // The end of a long page is never hidden behind the bar.
    await tab(s, 'today');
    const hidden = await s.execute(`
      window.scrollTo(0, document.documentElement.scrollHeight);
      const last = [...document.querySelectorAll('main *')].filter((e) => e.getClientRects().length).pop();
      const bar = document.querySelector('[data-testid="tabbar"]').getBoundingClientRect();
      const r = last.getBoundingClientRect();
      window.scrollTo(0, 0);
      return r.bottom > bar.top + 0.5 ? last.outerHTML.slice(0, 80) + ' ' + r.bottom + ' > ' + bar.top : null;`);
    assert.equal(hidden, null, 'the page ends above the tab bar');
  }

  // 200% text (twice the app's own size) at 390 px: still nothing sideways,
  // the bar may wrap into rows but every tab shows its whole word and works.
  await resize(s, ...PHONES[0]);
  await s.execute("document.documentElement.style.fontSize = '212.5%'; return true;");
  const big = await s.waitFor(() => s.execute(TAB_BAR), { what: 'the tab bar at 200%' });
  for (const x of big.tabs) {
    assert.ok(x.left >= -0.5 && x.right <= big.width + 0.5 && x.bottom <= big.height + 0.5, `${x.label} is on screen at 200%: ${JSON.stringify(x)}`);
  }
  assert.ok(big.barTop > big.height / 2, `the bar leaves most of the screen to the page at 200%: ${JSON.stringify(big)}`);
  const bigShots = await everyScreen(s, 'phone-390-text200', { axe: false });
  t.diagnostic(`screenshots at 200%: ${bigShots.join(', ')}`);
  await s.execute("document.documentElement.style.fontSize = ''; return true;");

  // In Spanish on the smallest phone, chosen on the More screen as a patient would.
  await resize(s, ...PHONES[1]);
  await tab(s, 'more');
  await s.execute(
    `const el = document.querySelector('[data-testid="more-language"]');
     el.value = 'es'; el.dispatchEvent(new Event('change', { bubbles: true }));`,
  );
  await s.waitFor(async () => (await texts(s, '[data-testid="nav-today"]'))[0] === 'Hoy', { what: 'Spanish tabs' });
  const es = await s.execute(TAB_BAR);
  assert.deepEqual(
    es.tabs.map((x) => x.label),
    ['Hoy', 'Mensajes', 'Cuestionarios', 'Mi atención', 'Más'],
  );
  assert.ok(new Set(es.tabs.map((x) => Math.round(x.top))).size === 1, `one row of tabs in Spanish: ${JSON.stringify(es.tabs)}`);
  await check(s, 'phone-360-es-more');
  await tab(s, 'today');
  await s.find('[data-testid="patient-name"]');
  await check(s, 'phone-360-es-today');
  await tab(s, 'messages');
  await s.find('[data-testid="thread"]');
  await check(s, 'phone-360-es-messages');
  await tab(s, 'more');
  await s.execute(
    `const el = document.querySelector('[data-testid="more-language"]');
     el.value = 'en'; el.dispatchEvent(new Event('change', { bubbles: true }));`,
  );
  await s.waitFor(async () => (await texts(s, '[data-testid="nav-today"]'))[0] === 'Today', { what: 'English again' });

  // What "More" opens: adding a person, the sign-out question, the lock screen; each comes back to More.
  await tap(s, await s.find('[data-testid="more-add-profile"]'));
  await s.find('[data-testid="sign-in-choice"]');
  await check(s, 'phone-360-add-person');
  await tap(s, await s.find('button.back'));
  await tap(s, await s.find('[data-testid="more-sign-out"]'));
  await s.find('[data-testid="sign-out-dialog"]');
  await check(s, 'phone-360-sign-out');
  await tap(s, await s.find('[data-testid="sign-out-dialog"] button.secondary'));
  await tap(s, await s.find('[data-testid="more-lock-now"]'));
  await s.find('[data-testid="lock-screen"] [data-testid="passcode"]');
  await check(s, 'phone-360-lock');
  await s.type(await s.find('[data-testid="passcode"]'), PASSCODE);
  await tap(s, await s.find('[data-testid="unlock"]'));
  await s.find('[data-testid="more"]');

  // Wider again: the More screen gives way to Today and the sections return to the top.
  await resize(s, 1280, 800);
  await s.waitFor(async () => (await s.execute(TAB_BAR)) === null, { what: 'no tab bar on a wide window' });
  await s.find('[data-testid="patient-name"]');
  assert.equal((await texts(s, 'nav button')).length, 7);
  await s.click(await s.find('[data-testid="nav-team"]'));
  await s.find('[data-testid="team-member"]');
  save('phone-layout-desktop-after.png', await s.screenshot());
});
