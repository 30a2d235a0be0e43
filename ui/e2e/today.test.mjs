// The walking skeleton, end to end: the real app binary in a real window,
// driven through WebDriver, signs in to a real back end through SMART (the
// system browser replaced by a scripted user agent), syncs, and shows Today.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from './support/webdriver.mjs';
import { APP, SCRIPTED_BROWSER, startBackend, startDriver, tempDir } from './support/processes.mjs';
import { SIZES, passLock, save, screenshots, texts } from './support/app.mjs';
import { entries, signInAs } from './support/fhir.mjs';
import { axeViolations } from './support/axe.mjs';

const USER = 'eleanor';
const PASSWORD = 'knee-demo-2026';

/** What the seed says Today must show, read from the back end as the patient. */
async function expectedToday(fhirBase) {
  const fhir = await signInAs(fhirBase, USER, PASSWORD);
  const patient = await fhir.get(`Patient/${fhir.patient}`);
  const name = patient.name[0];
  const [episode] = entries(await fhir.get(`EpisodeOfCare?patient=${fhir.patient}`));
  const org = await fhir.get(episode.managingOrganization.reference);
  const [team] = entries(await fhir.get(`CareTeam?patient=${fhir.patient}`));
  const coordinator = team.participant.find((p) => p.role.some((r) => r.coding?.some((c) => c.code === 'care-coordinator')));
  const phases = entries(await fhir.get(`CarePlan?patient=${fhir.patient}`)).filter((p) =>
    p.category?.some((c) => c.coding?.some((x) => x.code === 'phase')),
  );
  const appointments = entries(await fhir.get(`Appointment?patient=${fhir.patient}`));
  const surgery = appointments.find((a) => a.description === 'Right total knee replacement');
  const dayOf = (a) => a.start.slice(0, 10);
  const byTitle = (t) => appointments.find((a) => a.description === t);
  return {
    patientName: `${name.given.join(' ')} ${name.family}`,
    ipuName: org.name,
    condition: episode.type[0].text,
    phase: phases.find((p) => p.status === 'active').title,
    coordinatorName: coordinator.member.display,
    coordinatorRole: coordinator.role[0].text,
    surgeryDay: dayOf(surgery),
    // The seed's prehabilitation schedule: the three appointments before any checklist deadline.
    nextSteps: ['Prehabilitation physical therapy', 'Pre-operative assessment', 'Joint replacement class'].map((t) => ({
      title: t,
      date: dayOf(byTitle(t)),
      who: byTitle(t).participant.find((p) => p.actor.reference?.startsWith('Practitioner/')).actor.display,
    })),
  };
}

test('a patient signs in through SMART and sees Today from the synced store', async (t) => {
  const backend = await startBackend();
  t.after(backend.stop);
  const expected = await expectedToday(backend.fhirBase);

  const driver = await startDriver({
    CARECYCLE_DATA_DIR: tempDir('app'),
    CARECYCLE_SERVERS: `Riverside Knee & Hip Unit (demo)|${backend.fhirBase}`,
    BROWSER: SCRIPTED_BROWSER,
    CARECYCLE_E2E_USERNAME: USER,
    CARECYCLE_E2E_PASSWORD: PASSWORD,
  });
  t.after(driver.stop);
  const s = await Session.start(driver.base, APP);
  t.after(() => s.end());
  await s.setWindowSize(...SIZES.desktop);

  const choice = await s.find('[data-testid="sign-in-choice"]');
  assert.equal(await s.text(choice), 'Sign in to Riverside Knee & Hip Unit (demo)');
  assert.deepEqual(await axeViolations(s), [], 'first screen has no accessibility violations');
  save('connect-desktop.png', await s.screenshot());
  await s.click(choice);
  // The first sign-in asks for the app passcode before the record shows.
  await s.find('[data-testid="passcode-new"]');
  assert.deepEqual(await axeViolations(s), [], 'choosing the passcode has no accessibility violations');
  await screenshots(s, 'passcode-choose');
  await passLock(s);

  const patientName = await s.waitFor(async () => (await texts(s, '[data-testid="patient-name"]'))[0], {
    what: 'the Today screen after sign-in',
    timeoutMs: 60000,
  });
  assert.equal(patientName, expected.patientName);
  assert.equal(await s.text(await s.find('[data-testid="ipu-name"]')), expected.ipuName);
  assert.equal(await s.text(await s.find('[data-testid="condition"]')), expected.condition);
  assert.equal(await s.text(await s.find('[data-testid="phase"]')), expected.phase);
  assert.equal(await s.text(await s.find('[data-testid="coordinator-name"]')), expected.coordinatorName);
  assert.equal(await s.text(await s.find('[data-testid="coordinator-role"]')), expected.coordinatorRole);

  const steps = await s.findAll('[data-testid="next-step"]');
  assert.equal(steps.length, 3);
  for (const [i, step] of steps.entries()) {
    const want = expected.nextSteps[i];
    const [heading] = await s.findIn(step, 'h3');
    const [time] = await s.findIn(step, 'time');
    assert.equal(await s.text(heading), want.title);
    assert.equal(await s.attribute(time, 'datetime'), want.date);
    assert.match(await s.text(step), new RegExp(`With:? ${want.who}`));
  }
  assert.ok(expected.nextSteps[2].date < expected.surgeryDay);

  await s.waitFor(async () => /Up to date/.test(await s.text(await s.find('[data-testid="sync-status"]'))), {
    what: 'the sync status line',
  });
  assert.deepEqual(await axeViolations(s), [], 'Today has no accessibility violations');
  const desktop = save('today-desktop.png', await s.screenshot());
  await s.setWindowSize(...SIZES.phone);
  await new Promise((r) => setTimeout(r, 500));
  const phone = save('today-phone.png', await s.screenshot());
  t.diagnostic(`screenshots: ${desktop}, ${phone}`);
  await s.setWindowSize(...SIZES.desktop);

  // Ticking a checklist item reaches the care team.
  const fhir = await signInAs(backend.fhirBase, USER, PASSWORD);
  const title = 'Arrange a ride home and someone to stay with you';
  let box = null;
  for (const item of await s.findAll('[data-testid="checklist-item"]')) {
    if ((await s.text(item)).includes(title)) [box] = await s.findIn(item, 'input[type="checkbox"]');
  }
  assert.ok(box, 'the checklist shows the seeded item');
  await s.click(box);
  await s.waitFor(
    async () => {
      const tasks = entries(await fhir.get(`Task?patient=${fhir.patient}&code=checklist&_count=100`));
      return tasks.find((x) => x.description === title)?.status === 'completed';
    },
    { what: 'the ticked item on the server' },
  );
  assert.equal(await s.attribute(box, 'checked'), 'true');
  assert.deepEqual(await axeViolations(s), [], 'the checklist has no accessibility violations');
  save('checklist-desktop.png', await s.screenshot());
});
