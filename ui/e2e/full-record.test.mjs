// A year of care in the real window (#16 item 2b): the record generator's
// one-year record (2,000 messages in 301 threads, one of them 200 long, 60
// questionnaire responses, 120 readings, 200 checklist items of which 164
// done). Lists draw what a screen shows and
// the rest on request; every score reaches Results. How fast each screen
// opens is measured by ui/bench/first-screen.mjs --year, not asserted here.
import assert from 'node:assert/strict';
import test from 'node:test';
import { screenshots, signedInApp } from './support/app.mjs';

const count = async (s, css) => (await s.findAll(css)).length;

test('a year of care: what is open and the last done, the newest conversations and messages first, the rest on request, every score in Results', async (t) => {
  const { s } = await signedInApp(t, { seed: 'year', user: 'morgan', password: 'year-demo-2026' });

  // Today: the 36 open items, the 5 last done, the other 159 done on request
  // (the generator's 200 checklist Tasks, completed before day 300).
  await s.waitFor(async () => (await count(s, '[data-testid="checklist-item"]')) > 0, { what: 'the checklist' });
  assert.equal(await count(s, '[data-testid="checklist-item"]:not(.done)'), 36, 'every open item is drawn');
  assert.equal(await count(s, '[data-testid="checklist-item"].done'), 5, 'the last 5 done are drawn');
  const earlierDone = await s.find('[data-testid="earlier-done"]');
  assert.equal(await s.text(earlierDone), 'Show 159 earlier items you did');
  const [today] = await screenshots(s, 'year-today', { show: '[data-testid="earlier-done"]' });
  t.diagnostic(`screenshot: ${today}`);
  await s.click(await s.find('[data-testid="earlier-done"]'));
  await s.waitFor(async () => (await count(s, '[data-testid="checklist-item"]')) === 200, { what: 'every checklist item' });
  assert.equal(await count(s, '[data-testid="earlier-done"]'), 0);

  await s.click(await s.find('[data-testid="nav-messages"]'));
  await s.waitFor(async () => (await count(s, '[data-testid="thread"]')) > 0, { what: 'the threads' });
  assert.equal(await count(s, '[data-testid="thread"]'), 40, 'the 40 newest conversations are drawn');
  const older = await s.find('[data-testid="older-threads"]');
  assert.equal(await s.text(older), 'Show 261 older conversations');
  await s.click(older);
  await s.waitFor(async () => (await count(s, '[data-testid="thread"]')) === 301, { what: 'every conversation' });

  // The long conversation is the oldest: the newest 40 of its 200 messages, then the rest.
  await s.click(await s.find('.thread-list li:last-child [data-testid="thread"]'));
  await s.waitFor(async () => (await count(s, '[data-testid="message"]')) > 0, { what: 'the long thread' });
  assert.equal(await count(s, '[data-testid="message"]'), 40);
  const earlier = await s.find('[data-testid="earlier-messages"]');
  assert.match(await s.text(earlier), /^Show \d+ earlier messages$/);
  const total = 40 + Number(/\d+/.exec(await s.text(earlier))[0]);
  assert.ok(total >= 200, `the long thread has ${total} messages`);
  await s.click(earlier);
  await s.waitFor(async () => (await count(s, '[data-testid="message"]')) === total, { what: 'every message of the thread' });
  assert.equal(await count(s, '[data-testid="earlier-messages"]'), 0);

  // Every completed response was extracted to a score, and Results draws them all.
  await s.click(await s.find('[data-testid="nav-results"]'));
  await s.waitFor(async () => (await count(s, '[data-testid="chart-point"]')) === 60, { what: '60 PHQ-9 scores on the chart' });
  // A year of dates under the chart: as many as fit, each clear of the next
  // by at least a space (6 px), so "October 7" and "December 1" never read as one.
  const DATES_TOO_CLOSE = `
    const boxes = [...document.querySelectorAll('[data-testid="chart-date"]')].map((el) => el.getBoundingClientRect());
    return boxes.slice(1).flatMap((b, i) => (b.left - boxes[i].right < 6 ? [[boxes[i].right, b.left]] : []));`;
  const [desktop, phone] = await screenshots(s, 'year-results', {
    show: '[data-testid="result-chart"]',
    each: async (size) => {
      assert.ok((await count(s, '[data-testid="chart-date"]')) >= 2, `${size}: the first and the latest date`);
      assert.deepEqual(await s.execute(DATES_TOO_CLOSE), [], `${size}: each date under the chart is clear of the next`);
    },
  });
  t.diagnostic(`screenshots: ${desktop}, ${phone}`);

  await s.click(await s.find('[data-testid="nav-reading"]'));
  await s.waitFor(async () => (await count(s, '.doc-link')) >= 120, { what: 'the 120 readings' });
});
