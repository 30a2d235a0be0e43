// Starting and stopping what an e2e test needs: the reference back end and
// tauri-driver, each on a free loopback port, each stopped by the test.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { invalidAmong, writtenSince } from './validate-fhir.mjs';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const APP = process.env.CARECYCLE_APP ?? join(ROOT, 'target/debug/carecycle-app');
export const BACKEND = process.env.CARECYCLE_BACKEND ?? join(ROOT, 'target/debug/carecycle-backend');
export const ARTIFACTS = process.env.E2E_ARTIFACTS ?? join(ROOT, 'target/e2e-artifacts');
export const SCRIPTED_BROWSER = join(import.meta.dirname, 'scripted-browser.mjs');
export const NOTIFICATION_RECORDER =
  process.env.CARECYCLE_NOTIFICATION_RECORDER ?? join(ROOT, 'target/debug/examples/notification_recorder');

// Every folder a test or bench makes is removed when its process exits, after
// the test has stopped what wrote there: a run of the suite leaves nothing in
// /tmp (before, each run left ~130 folders, the back end's databases among them).
const made = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), `carecycle-${prefix}-`));
  made.push(dir);
  return dir;
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function stopper(child, { group = false } = {}) {
  // A group leader's signal reaches everything it started (for tauri-driver:
  // WebKitWebDriver and the app, which outlives a deleted WebDriver session).
  const signal = (sig) => {
    try {
      if (group) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  return () =>
    new Promise((done) => {
      const finish = () => {
        if (group) signal('SIGKILL');
        done();
      };
      if (child.exitCode !== null || child.signalCode !== null) return finish();
      child.once('exit', finish);
      signal('SIGTERM');
      setTimeout(() => signal('SIGKILL'), 5000).unref();
    });
}

/**
 * Starts the reference back end with seed data (`demo`, or `year`: the demo
 * and a one-year record); resolves once it listens. Its `stop()` first judges
 * every resource version written while it ran (the seed, the app, the team's
 * tools) with the stock R4 validators, and fails if any is invalid (#13 item 1).
 */
export function startBackend({ dataDir = tempDir('backend'), port = 0, seed = 'demo' } = {}) {
  const since = new Date(Date.now() - 1000).toISOString();
  const child = spawn(BACKEND, ['serve', '--addr', `127.0.0.1:${port}`, '--data', dataDir, '--seed', seed], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolveStart, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('back end did not start in 30 s')), 30000);
    child.once('exit', (code) => reject(new Error(`back end exited (${code})`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /FHIR base (\S+)\)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const url = new URL(m[1]);
        const kill = stopper(child);
        let judged = false;
        const stop = async () => {
          if (judged || child.exitCode !== null || child.signalCode !== null) return kill();
          judged = true;
          let problems = [];
          try {
            problems = invalidAmong(await writtenSince(m[1], since));
          } catch (e) {
            // Unreadable (the test took the server down, or made it refuse sign-ins): nothing judged.
            process.stderr.write(`back end writes not judged: ${e.message}\n`);
          } finally {
            await kill();
          }
          if (problems.length) {
            throw new Error(`${problems.length} problem(s) in resources written during the test (not valid R4):\n${problems.join('\n')}`);
          }
        };
        resolveStart({ fhirBase: m[1], origin: url.origin, port: Number(url.port), dataDir, stop });
      }
    });
  });
}

/**
 * Starts tauri-driver with `env` for the app it will launch; resolves when
 * /status answers. The app paints as it chooses on this machine
 * (src-tauri/src/renderer.rs), as on a patient's: with no GPU, no compositing.
 */
export async function startDriver(env) {
  const port = await freePort();
  const nativePort = await freePort();
  const child = spawn('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
    // Its own process group, so stopping it also stops the app; and no pipe of
    // ours, so nothing it leaves behind can hold the test runner open.
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, ...env },
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`tauri-driver exited (${child.exitCode})`);
    try {
      const r = await fetch(`${base}/status`);
      if (r.ok) return { base, pid: child.pid, stop: stopper(child, { group: true }) };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await stopper(child, { group: true })();
  throw new Error('tauri-driver did not answer /status in 30 s');
}

/**
 * Stands up the recording notification service on this session bus: every
 * notification the app shows lands in `log` as one JSON line. Resolves once
 * it owns the name; `stop()` takes the service away again.
 */
export function startNotificationRecorder(log) {
  const child = spawn(NOTIFICATION_RECORDER, [log], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error('notification recorder did not start in 10 s')), 10000);
    child.once('exit', (code) => reject(new Error(`notification recorder exited (${code})`)));
    child.stdout.once('data', () => {
      clearTimeout(timer);
      resolveStart({ stop: stopper(child) });
    });
  });
}
