// Runs axe-core inside the app window and returns its violations.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export async function axeViolations(session) {
  await session.execute(`${AXE_SOURCE}; return true;`);
  return session.executeAsync(`
    const done = arguments[arguments.length - 1];
    // Tauri's isolation frame (src-tauri/isolation) is machinery, not
    // content: hidden with display:none, never reached by a screen reader.
    axe.run({ exclude: [['#__tauri_isolation__']] }, { resultTypes: ['violations'] })
      .then((r) => done(r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map((n) => n.target.join(' ')) }))))
      .catch((e) => done([{ id: 'axe-error', help: String(e) }]));
  `);
}
