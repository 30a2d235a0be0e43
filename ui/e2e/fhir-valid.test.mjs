// Issue #13 item 1: every resource the seeded back end holds is valid FHIR R4,
// as judged by stock validators nobody here wrote (support/validate-fhir.mjs).
// Reads every type the CapabilityStatement declares, as each care team and
// each patient, paging through `next` links, plus every stored version from
// the team's `_history`; then validates each distinct version once.
// Needs only the back end binary (CARECYCLE_BACKEND), no display.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startBackend } from './support/processes.mjs';
import { TABLE, referenceTargets } from '../scripts/r4-reference-targets.mjs';
import { everythingOn, formatProblems, invalidAmong, validateAll, writtenSince } from './support/validate-fhir.mjs';

test('every resource the seeded back end holds is valid FHIR R4 (stock validators)', async (t) => {
  const backend = await startBackend();
  t.after(backend.stop);
  const { fhirBase } = backend;

  const { types, resources, refused } = await everythingOn(fhirBase);
  const results = validateAll(resources);
  const byType = {};
  for (const r of results) {
    byType[r.resourceType] ??= { versions: 0, invalid: 0, problems: 0, notes: 0 };
    byType[r.resourceType].versions += 1;
    if (r.problems.length) byType[r.resourceType].invalid += 1;
    byType[r.resourceType].problems += r.problems.length;
    byType[r.resourceType].notes += r.notes.length;
  }
  for (const [type, c] of Object.entries(byType).sort()) {
    t.diagnostic(
      `${type}: ${c.versions} version(s) validated, ${c.invalid} invalid, ${c.problems} problem(s), ${c.notes} binding note(s)`,
    );
  }
  // Codes outside extensible/preferred/example bindings: allowed, listed once each.
  const notes = new Map();
  for (const r of results) {
    for (const n of r.notes) {
      const line = `${n.path.replace(/\[\d+\]/g, '[]')}: ${n.message}`;
      notes.set(line, (notes.get(line) ?? 0) + 1);
    }
  }
  for (const [line, count] of [...notes].sort()) t.diagnostic(`note (allowed, not required binding) ×${count} ${line}`);
  for (const line of refused) t.diagnostic(`not readable (skipped): ${line}`);
  for (const type of types) {
    if (!byType[type]) t.diagnostic(`${type}: none found by any seeded user`);
  }

  const problems = formatProblems(results);
  const invalid = results.filter((r) => r.problems.length > 0);
  assert.ok(resources.length > types.length, `only ${resources.length} resources were read`);
  assert.equal(
    invalid.length,
    0,
    `${invalid.length} of ${results.length} resource versions are not valid R4 (${problems.length} problems):\n${problems.join('\n')}`,
  );
});

test('the judge itself rejects what R4 rejects (so a pass above means something)', () => {
  const patient = { reference: 'Patient/p1' };
  const [good, ...bad] = validateAll([
    { resourceType: 'Task', id: 'ok-1', status: 'requested', intent: 'order', for: patient },
    { resourceType: 'Communication', id: 'c1', status: 'completed', sent: 'yesterday' },
    { resourceType: 'Communication', id: 'c2', status: 'completed', colour: 'blue' },
    { resourceType: 'QuestionnaireResponse', id: 'q1', status: 'completed', identifier: [{ value: 'x' }] },
    { resourceType: 'QuestionnaireResponse', id: 'q2', status: 'completed', basedOn: [{ reference: 'Task/t1' }] },
    { resourceType: 'Task', id: 't2', status: 'not-a-status', intent: 'order', for: patient },
    { resourceType: 'Appointment', id: 'a1', status: 'booked', start: '2026-01-01T10:00:00Z', participant: [{ actor: patient, status: 'accepted' }] },
    { resourceType: 'Patient', id: 'no spaces allowed' },
    { resourceType: 'Patient', id: 'p2', birthDate: '2020-13-01' },
  ]);
  assert.deepEqual(good.problems, [], formatProblems([good]).join('\n'));
  for (const r of bad) assert.ok(r.problems.length > 0, `${r.resourceType}/${r.id} passed the judge`);
});

test('everything the record generator makes (the one-year record) is valid R4 (stock validators)', async (t) => {
  const since = new Date(Date.now() - 1000).toISOString();
  const backend = await startBackend({ seed: 'year' });
  t.after(backend.stop);
  const written = await writtenSince(backend.fhirBase, since);
  const byType = {};
  for (const r of written) byType[r.resourceType] = (byType[r.resourceType] ?? 0) + 1;
  t.diagnostic(`written by the seed and the generator: ${Object.entries(byType).sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  assert.ok(byType.Communication >= 2000, `the one-year record's messages (${byType.Communication})`);
  const problems = invalidAmong(written);
  assert.deepEqual(problems, [], `${problems.length} problems`);
});

test("the reference targets the back end enforces are R4's own (from the official StructureDefinitions)", () => {
  assert.equal(readFileSync(TABLE, 'utf8'), referenceTargets(), 'stale: run node scripts/r4-reference-targets.mjs');
});
