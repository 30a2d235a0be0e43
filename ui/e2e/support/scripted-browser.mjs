#!/usr/bin/env node
// Stands in for the system browser during e2e runs: the app opens the
// authorization URL with `$BROWSER <url>` exactly as it would open Firefox; this
// script signs in as the person named in the environment and follows the
// redirect to the app's loopback listener. It prints nothing about the patient.
import { submitSignIn } from './sign-in.mjs';

const [url] = process.argv.slice(2);
const username = process.env.CARECYCLE_E2E_USERNAME;
const password = process.env.CARECYCLE_E2E_PASSWORD;
try {
  if (!url || !username || !password) throw new Error('usage: BROWSER with CARECYCLE_E2E_USERNAME/PASSWORD set');
  const callback = await submitSignIn(url, username, password);
  const back = await fetch(callback);
  process.exitCode = back.ok ? 0 : 1;
} catch (e) {
  process.stderr.write(`scripted browser: ${e.message}\n`);
  process.exitCode = 1;
}
