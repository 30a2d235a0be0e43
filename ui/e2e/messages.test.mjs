// Messages in the real window against the real back end: the seeded thread
// shows who answers and by when; the care team replies with its command line
// and the reply appears; the patient's reply reaches the server exactly once;
// text that suggests an emergency brings call-now guidance before sending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PATIENT, findByText, save, screenshots, signedInApp, team, texts } from './support/app.mjs';
import { entries, signInAs } from './support/fhir.mjs';
import { axeViolations } from './support/axe.mjs';

const USER = PATIENT.user;
const PASSWORD = PATIENT.password;


test('care team and messages: who answers by when, the team replies, the patient replies once, emergencies are guided', async (t) => {
  const { s, backend } = await signedInApp(t);
  const fhir = await signInAs(backend.fhirBase, USER, PASSWORD);
  const root = entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=100`)).find(
    (c) => c.topic?.text === 'Moving my physical therapy session',
  );

  // My care team: every member with role and what to ask them about, the coordinator marked.
  const [careTeam] = entries(await fhir.get(`CareTeam?patient=${fhir.patient}`));
  await s.click(await s.find('[data-testid="nav-team"]'));
  const members = await s.waitFor(
    async () => {
      const all = await texts(s, '[data-testid="team-member"]');
      return all.length === careTeam.participant.length && all.every((m) => m.includes('Ask about')) && all;
    },
    { what: 'the care team with what to ask each about' },
  );
  assert.match(members[0], /^Priya Raman, RN/, 'the care coordinator first');
  assert.match(members[0], /Your care coordinator/);
  assert.ok(members.some((m) => /Tomás Herrera, DPT\s+Physical therapist/.test(m) && m.includes('Your exercises before and after surgery')));
  assert.equal((await s.findAll('[data-testid="coordinator-tag"]')).length, 1);
  assert.deepEqual(await axeViolations(s), [], 'the care team has no accessibility violations');
  await screenshots(s, 'team');

  await s.click(await s.find('[data-testid="nav-messages"]'));
  const waiting = await s.waitFor(
    async () => (await texts(s, '[data-testid="thread"]')).find((x) => x.includes('Moving my physical therapy session')),
    { what: 'the seeded scheduling thread' },
  );
  assert.match(waiting, /Priya Raman, RN \(Nurse navigator\) will answer by/);
  assert.deepEqual(await axeViolations(s), [], 'the message list has no accessibility violations');
  save('messages-desktop.png', await s.screenshot());

  // The team answers with its command line; the app shows it after a check.
  team(backend, 'send', '--patient', USER, '--thread', root.id, 'Yes, Tuesday at 2 pm works. See you then!');
  await s.click(await s.find('.sync-status button.link:last-child'));
  await s.waitFor(async () => /All your messages have been sent/.test(await s.text(await s.find('[data-testid="messages-status"]'))), {
    what: 'the check for new messages',
  });
  // The reply is new until the patient opens the thread; opening it reaches the team as read.
  const teamReply = 'Yes, Tuesday at 2 pm works. See you then!';
  const thread = await findByText(s, '[data-testid="thread"]', (x) => x.includes('Moving my physical therapy session') && /1 new/.test(x));
  await s.click(thread);
  await s.waitFor(
    async () =>
      entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=100`)).find((c) => c.payload?.[0]?.contentString === teamReply)
        ?.received,
    { what: 'the read mark on the server' },
  );
  const messages = await s.waitFor(
    async () => {
      const all = await texts(s, '[data-testid="message"]');
      return all.some((m) => m.includes('Tuesday at 2 pm')) && all;
    },
    { what: "the team's reply in the thread" },
  );
  assert.ok(messages.some((m) => m.includes('Could my physical therapy session')));

  // The patient replies; it reaches the server exactly once.
  await s.type(await s.find('[data-testid="message-text"]'), 'Thank you, Tuesday at 2 pm is perfect.');
  await s.click(await s.find('[data-testid="send"]'));
  await s.waitFor(async () => (await texts(s, '[data-testid="message"]')).some((m) => m.includes('Tuesday at 2 pm is perfect')), {
    what: 'the reply in the thread',
  });
  await s.waitFor(
    async () => {
      const all = entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=100`));
      return all.filter((c) => c.payload?.[0]?.contentString === 'Thank you, Tuesday at 2 pm is perfect.').length === 1;
    },
    { what: 'the reply on the server' },
  );
  await s.waitFor(async () => /All your messages have been sent/.test(await s.text(await s.find('[data-testid="messages-status"]'))), {
    what: 'the status line',
  });
  const onServer = entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=100`)).filter(
    (c) => c.payload?.[0]?.contentString === 'Thank you, Tuesday at 2 pm is perfect.',
  );
  assert.equal(onServer.length, 1, 'sent exactly once');
  assert.equal(onServer[0].partOf[0].reference, `Communication/${root.id}`);

  // A photo of the wound goes with a reply; a file that is not a photo or PDF is refused, the text kept.
  const attach = (name, base64) =>
    s.execute(
      `const input = document.querySelector('[data-testid="attach-file"]');
       const bytes = Uint8Array.from(atob(arguments[1]), (c) => c.charCodeAt(0));
       const data = new DataTransfer();
       data.items.add(new File([bytes], arguments[0]));
       input.files = data.files;
       input.dispatchEvent(new Event('change', { bubbles: true }));`,
      [name, base64],
    );
  const caption = 'This is how the knee looks this morning.';
  await s.type(await s.find('[data-testid="message-text"]'), caption);
  await attach('knee.jpg', Buffer.from('#!/bin/sh\necho not a photo\n').toString('base64'));
  await s.find('[data-testid="chosen-file"]');
  await s.click(await s.find('[data-testid="send"]'));
  const refused = await s.waitFor(async () => s.text(await s.find('#form-error')), { what: 'the refusal' });
  assert.match(refused, /photos \(JPEG, PNG or HEIC\) and PDF/);
  assert.equal(await s.property(await s.find('[data-testid="message-text"]'), 'value'), caption, 'the text is kept');
  await s.click(await s.find('[data-testid="chosen-file"] button'));
  // A 1×1 PNG stands in for the photo.
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAACklEQVR4nGMAAQAABQABDQottAAAAABJRU5ErkJggg==';
  await attach('knee.png', png);
  await s.find('[data-testid="chosen-file"]');
  await s.click(await s.find('[data-testid="send"]'));
  await s.find('[data-testid="attached-photo"]');
  const withPhoto = await s.waitFor(
    async () =>
      entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=100`)).find((c) =>
        c.payload?.some((p) => p.contentString === caption),
      ),
    { what: 'the photo on the server' },
  );
  const photo = withPhoto.payload.find((p) => p.contentAttachment).contentAttachment;
  assert.deepEqual([photo.contentType, photo.title, photo.data], ['image/png', 'knee.png', png]);

  assert.deepEqual(await axeViolations(s), [], 'a thread has no accessibility violations');
  await s.setWindowSize(390, 844);
  await new Promise((r) => setTimeout(r, 500));
  save('thread-phone.png', await s.screenshot());
  await s.setWindowSize(1280, 800);

  // A new message that suggests an emergency: guidance first, nothing sent.
  await s.click(await s.find('button.back'));
  await s.click(await s.find('[data-testid="new-message"]'));
  await s.type(await s.find('[data-testid="message-text"]'), 'I have chest pain and feel short of breath');
  await s.click(await s.find('[data-testid="send"]'));
  const dialog = await s.waitFor(async () => s.text(await s.find('[data-testid="urgent"]')), { what: 'the urgent guidance' });
  assert.match(dialog, /Call 911 now/);
  assert.deepEqual(await axeViolations(s), [], 'the guidance has no accessibility violations');
  save('urgent-desktop.png', await s.screenshot());
  const sent = entries(await fhir.get(`Communication?patient=${fhir.patient}&_count=100`)).filter((c) =>
    c.payload?.[0]?.contentString?.includes('chest pain'),
  );
  assert.equal(sent.length, 0, 'nothing is sent before the patient has seen the guidance');
});
