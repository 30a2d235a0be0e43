// The window as an attacker's page script would find it, in the real app:
// the isolation hook lets only CareCycle's own commands through, the
// content security policy stops injected scripts and inline handlers
// (with the browser's own violation reports as witness), every attempt to
// take the window elsewhere is refused by the shell's navigation guard, and
// the opener opens only tel: and https: links. scripts/release.sh runs it
// against the release binary too (CARECYCLE_APP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signedInApp, texts } from './support/app.mjs';

const settle = (ms = 1500) => new Promise((r) => setTimeout(r, ms));

async function stillTheApp(s, what) {
  const href = await s.execute('return location.href');
  assert.match(href, /^(tauri:\/\/localhost|http:\/\/tauri\.localhost)(\/|$)/, `${what}: the window left the app (${href})`);
  assert.ok((await texts(s, '[data-testid="patient-name"]'))[0], `${what}: the app is still showing`);
}

test('an injected script cannot run, navigate the window, or open what it likes', async (t) => {
  const { s } = await signedInApp(t);

  // CSP (tauri.conf.json): script-src 'self', so nothing inline runs.
  const csp = await s.executeAsync(`
    const done = arguments[arguments.length - 1];
    const violations = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.effectiveDirective));
    const script = document.createElement('script');
    script.textContent = 'window.__injected = "script"';
    document.body.appendChild(script);
    document.body.insertAdjacentHTML('beforeend', '<img src="data:," onerror="window.__handler = 1" alt="">');
    const a = document.createElement('a');
    a.href = 'javascript:window.__jsurl = 1';
    document.body.appendChild(a);
    a.click();
    setTimeout(() => done({ ran: [window.__injected, window.__handler, window.__jsurl], violations }), 1000);
  `);
  assert.deepEqual(csp.ran, [null, null, null], 'no injected code ran');
  assert.ok(csp.violations.some((d) => d.startsWith('script-src')), `the CSP refused it: ${JSON.stringify(csp.violations)}`);

  // The navigation guard (src-tauri/src/navigation.rs) keeps the window on the app.
  for (const [what, script] of [
    ['location to another site', 'location.href = "https://example.org/"'],
    ['location to a file', 'location.href = "file:///etc/passwd"'],
    ['a link to another site', 'const a = document.createElement("a"); a.href = "https://example.org/"; document.body.appendChild(a); a.click()'],
    ['a form posted elsewhere', 'const f = document.createElement("form"); f.action = "https://example.org/"; f.method = "post"; document.body.appendChild(f); f.submit()'],
  ]) {
    await s.execute(script);
    await settle();
    await stillTheApp(s, what);
  }
  const before = await s.cmd('GET', '/window/handles');
  await s.execute('window.open("https://example.org/")');
  await settle();
  assert.deepEqual(await s.cmd('GET', '/window/handles'), before, 'window.open made no window');

  // The isolation hook (src-tauri/isolation/index.js) passes CareCycle's own
  // commands only: anything else reaches the core renamed, and is refused.
  for (const cmd of ['plugin:app|version', 'plugin:webview|internal_toggle_devtools', 'plugin:window|close']) {
    const outcome = await s.executeAsync(`
      const done = arguments[arguments.length - 1];
      window.__TAURI_INTERNALS__.invoke(arguments[0], {}).then(() => done('ran'), (e) => done('refused: ' + e));
    `, [cmd]);
    assert.match(outcome, /refused_by_carecycle_isolation/, `${cmd}: ${outcome}`);
  }
  // … while the app's own commands still work through it, and its frame is
  // not an empty box on the screen.
  assert.ok((await texts(s, '[data-testid="patient-name"]'))[0]);
  assert.equal(
    await s.execute(`const f = document.getElementById('__tauri_isolation__'); return f && getComputedStyle(f).display;`),
    'none',
  );

  // The opener's capability allows tel: and https: only.
  for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'http://example.org/', 'smb://host/share']) {
    const outcome = await s.executeAsync(`
      const done = arguments[arguments.length - 1];
      window.__TAURI_INTERNALS__.invoke('plugin:opener|open_url', { url: arguments[0] })
        .then(() => done('opened'), (e) => done('refused: ' + e));
    `, [url]);
    assert.match(outcome, /^refused/, `${url}: ${outcome}`);
  }
});
