#!/usr/bin/env node
// Stands in for the system browser during e2e runs: the app opens the
// authorization URL with `$BROWSER <url>` exactly as it would open Firefox; this
// script signs in as the person named in the environment and follows the
// redirect to the app's loopback listener. It prints nothing about the patient.
import { submitSignIn } from './sign-in.mjs';

import { existsSync, readFileSync } from 'node:fs';

const [url] = process.argv.slice(2);
// A test that signs in more than once names the next account in a file
// ("username\npassword"); otherwise the environment names the one account.
const file = process.env.CARECYCLE_E2E_ACCOUNT_FILE;
const [username, password] =
  file && existsSync(file)
    ? readFileSync(file, 'utf8').split('\n')
    : [process.env.CARECYCLE_E2E_USERNAME, process.env.CARECYCLE_E2E_PASSWORD];
try {
  if (!url || !username || !password) throw new Error('usage: BROWSER with CARECYCLE_E2E_USERNAME/PASSWORD set');
  const callback = await submitSignIn(url, username, password);
  const back = await fetch(callback);
  process.exitCode = back.ok ? 0 : 1;
} catch (e) {
  process.stderr.write(`scripted browser: ${e.message}\n`);
  process.exitCode = 1;
}
