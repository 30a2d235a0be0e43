// The stock R4 validators (e2e/support/validate-fhir.mjs) as a command, for
// judges outside the e2e suite: the Rust tests pipe every resource version
// their back end stored while they ran (a JSON array on stdin).
//
// Prints one line of counts by type; exits 1 and lists each problem when any
// resource is not valid R4.
import { formatProblems, validateAll } from '../e2e/support/validate-fhir.mjs';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const resources = JSON.parse(input);
if (!Array.isArray(resources)) {
  process.stderr.write('judge-fhir: expected a JSON array of resources on stdin\n');
  process.exit(2);
}
const results = validateAll(resources);
const byType = new Map();
for (const r of results) byType.set(r.resourceType, (byType.get(r.resourceType) ?? 0) + 1);
const counts = [...byType].sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${t}×${n}`);
const invalid = results.filter((r) => r.problems.length > 0);
process.stdout.write(
  `stock R4 validators judged ${results.length} resource versions (${counts.join(', ') || 'none'}): ${invalid.length} invalid\n`,
);
if (invalid.length > 0) {
  process.stderr.write(`${formatProblems(invalid).join('\n')}\n`);
  process.exit(1);
}
