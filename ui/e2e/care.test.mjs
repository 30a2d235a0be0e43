// The care cycle in the real window: every phase in order with the current
// one marked, the appointments with "add to calendar" (.ics), and the team
// moving the surgery date with its command line: the dates move in the app.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tempDir } from './support/processes.mjs';
import { PATIENT, screenshots, signedInApp, team, texts } from './support/app.mjs';
import { entries, signInAs } from './support/fhir.mjs';
import { axeViolations } from './support/axe.mjs';

const USER = PATIENT.user;
const PASSWORD = PATIENT.password;

const plusDays = (day, n) => {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
};

test('care cycle: phases in order, appointments to the calendar, the surgery moved by the team', async (t) => {
  const downloads = tempDir('downloads');
  const { s, backend } = await signedInApp(t, { env: { CARECYCLE_DOWNLOAD_DIR: downloads } });
  const fhir = await signInAs(backend.fhirBase, USER, PASSWORD);
  const phases = entries(await fhir.get(`CarePlan?patient=${fhir.patient}&category=phase&_count=100`)).sort(
    (a, b) => a.period.start.localeCompare(b.period.start) || a.period.end.localeCompare(b.period.end),
  );
  const surgery = entries(await fhir.get(`Appointment?patient=${fhir.patient}&_count=100`)).find(
    (a) => a.description === 'Right total knee replacement',
  );

  await s.click(await s.find('[data-testid="nav-care"]'));
  const shown = await s.waitFor(async () => {
    const list = await texts(s, '[data-testid="timeline-phase"]');
    return list.length === phases.length && list;
  }, { what: 'the timeline' });
  phases.forEach((p, i) => assert.ok(shown[i].startsWith(p.title), `${shown[i]} is ${p.title}`));
  const current = await s.find('[data-testid="timeline-phase"][aria-current="step"]');
  assert.ok((await s.text(current)).startsWith(phases.find((p) => p.status === 'active').title));
  assert.deepEqual(await axeViolations(s), [], 'the care cycle has no accessibility violations');
  await screenshots(s, 'care');

  // Add the surgery to a calendar: an .ics with the right start.
  const surgeryItem = async () => {
    for (const el of await s.findAll('[data-testid="appointment"]')) {
      if ((await s.text(el)).includes('Right total knee replacement')) return el;
    }
    return null;
  };
  const [button] = await s.findIn(await surgeryItem(), '[data-testid="add-to-calendar"]');
  await s.click(button);
  const saved = await s.waitFor(async () => s.text(await s.find('[data-testid="saved"]')), { what: 'the saved calendar file' });
  const path = /Saved to (\S+\.ics)/.exec(saved)[1];
  const ics = readFileSync(path, 'utf8');
  const utc = new Date(surgery.start).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  assert.match(ics, /BEGIN:VCALENDAR\r\n/);
  assert.match(ics, new RegExp(`DTSTART:${utc}`));
  assert.match(ics, /SUMMARY:Right total knee replacement/);

  // The team moves the surgery a week later; after an update the app shows it.
  const day = surgery.start.slice(0, 10);
  team(backend, 'move-surgery', '--patient', USER, '--to', plusDays(day, 7));
  await s.click(await s.find('[data-testid="care-update"]'));
  await s.waitFor(
    async () => {
      const el = await surgeryItem();
      const [time] = await s.findIn(el, 'time');
      return (await s.attribute(time, 'datetime')) === plusDays(day, 7);
    },
    { what: 'the surgery on its new day' },
  );
  const prehab = (await s.findAll('[data-testid="timeline-phase"]'))[phases.findIndex((p) => p.title === 'Prehabilitation')];
  const times = await s.findIn(prehab, 'time');
  assert.equal(await s.attribute(times[1], 'datetime'), plusDays(day, 6), 'prehabilitation ends the day before');
});
