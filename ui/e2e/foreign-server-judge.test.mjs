// The other FHIR server of foreign-server.test.mjs holds to what the app
// relies on (sign-in with PKCE, reads, the app's cursor search, batches,
// conditional create, If-Match, validation of writes, tokens): so a pass
// there is the app's, not a lenient stand-in's. Needs no window.
import { test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { startForeignServer } from './support/foreign-fhir-server.mjs';
import { submitSignIn } from './support/sign-in.mjs';
import { validateOne } from './support/validate-fhir.mjs';

const account = { username: 'tess', password: 'check-only-1', patient: 'p1' };
const patient = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Test' }] };
const task = { resourceType: 'Task', id: 't1', status: 'requested', intent: 'order', for: { reference: 'Patient/p1' } };
const server = await startForeignServer({ resources: [patient, task], account });
const { fhirBase, writes } = server;

let failed = 0;
const lines = [];
async function step(name, fn) {
  try {
    const detail = await fn();
    lines.push(`PASS ${name}${detail ? ` (${detail})` : ''}`);
  } catch (e) {
    failed++;
    lines.push(`FAIL ${name}: ${e.message}`);
  }
}
function expect(ok, what) {
  if (!ok) throw new Error(what);
}
const json = 'application/fhir+json';
let token;
const fhir = async (path, { method = 'GET', body, headers = {}, auth = true } = {}) => {
  const r = await fetch(`${fhirBase}/${path}`, {
    method,
    headers: { accept: json, ...(body ? { 'content-type': json } : {}), ...(auth ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: body && JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: await r.json().catch(() => null) };
};
const form = async (url, fields) => fetch(url, { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' });

const config = await (await fetch(`${fhirBase}/.well-known/smart-configuration`)).json();
const verifier = randomBytes(32).toString('base64url');
const redirect = 'http://127.0.0.1:1/callback';
const authorize = new URL(config.authorization_endpoint);
for (const [k, v] of Object.entries({
  response_type: 'code',
  client_id: 'carecycle-app',
  redirect_uri: redirect,
  scope: 'launch/patient offline_access patient/*.rs',
  state: 'st4te',
  aud: fhirBase,
  code_challenge: createHash('sha256').update(verifier).digest('base64url'),
  code_challenge_method: 'S256',
})) authorize.searchParams.set(k, v);
let refresh;

await step('metadata is valid R4 and declares batch', async () => {
  const { status, body } = await fhir('metadata', { auth: false });
  expect(status === 200, `status ${status}`);
  const problems = validateOne(body).problems.map((p) => `${p.path}: ${p.message}`);
  expect(problems.length === 0, problems.join('; '));
  expect(body.rest[0].interaction.some((i) => i.code === 'batch'), 'no batch');
  return body.rest[0].resource.map((r) => r.type).join(',');
});
await step('authorize refuses a foreign aud', async () => {
  const bad = new URL(authorize);
  bad.searchParams.set('aud', 'https://elsewhere.example/fhir');
  expect((await fetch(bad)).status === 400, 'not 400');
});
await step('a wrong password shows the form again', async () => {
  const page = await form(config.authorization_endpoint, { ...Object.fromEntries(authorize.searchParams), username: 'tess', password: 'nope' });
  expect(page.status === 200 && !page.headers.get('location') && (await page.text()).includes('<form'), `status ${page.status}`);
});
await step('sign in (form, 303, token with PKCE)', async () => {
  const back = new URL(await submitSignIn(authorize.href, account.username, account.password));
  expect(back.searchParams.get('state') === 'st4te', 'state lost');
  const fields = { grant_type: 'authorization_code', code: back.searchParams.get('code'), redirect_uri: redirect, client_id: 'carecycle-app', code_verifier: verifier };
  const r = await form(config.token_endpoint, fields);
  const t = await r.json();
  expect(r.status === 200 && t.access_token && t.refresh_token && t.patient === 'p1', `status ${r.status} ${t.error ?? ''}`);
  expect(r.headers.get('cache-control') === 'no-store', 'no Cache-Control: no-store');
  const again = await form(config.token_endpoint, fields);
  expect(again.status === 400 && (await again.json()).error === 'invalid_grant', 'a code worked twice');
  ({ access_token: token, refresh_token: refresh } = t);
  return t.scope;
});
await step('refresh rotates the refresh token', async () => {
  const r = await form(config.token_endpoint, { grant_type: 'refresh_token', refresh_token: refresh, client_id: 'carecycle-app' });
  const t = await r.json();
  expect(r.status === 200 && t.refresh_token !== refresh, `status ${r.status}`);
  const old = await form(config.token_endpoint, { grant_type: 'refresh_token', refresh_token: refresh, client_id: 'carecycle-app' });
  expect(old.status === 400, 'the old refresh token still works');
  ({ access_token: token, refresh_token: refresh } = t);
});
await step('read Patient/p1', async () => {
  const { status, headers, body } = await fhir('Patient/p1');
  expect(status === 200 && body.id === 'p1' && /^W\/".+"$/.test(headers.get('etag') ?? ''), `status ${status}, ETag ${headers.get('etag')}`);
});
await step('search Task with the app cursor (6-digit fraction)', async () => {
  const { status, body } = await fhir('Task?patient=Patient%2Fp1&_count=100&_sort=_lastUpdated&_lastUpdated=ge2000-01-01T00:00:00.000000Z');
  expect(status === 200 && body.total === 1 && body.entry?.[0]?.resource.id === 't1', `status ${status}, total ${body?.total}`);
  expect(body.link?.[0]?.relation === 'self', 'no self link');
});
await step('batch of two GETs', async () => {
  const batch = { resourceType: 'Bundle', type: 'batch', entry: ['Patient/p1', 'Task?patient=Patient%2Fp1'].map((url) => ({ request: { method: 'GET', url } })) };
  const { status, body } = await fhir('', { method: 'POST', body: batch });
  expect(status === 200 && body.type === 'batch-response' && body.entry.length === 2, `status ${status}`);
  return body.entry.map((e) => e.response.status).join(',');
});
const message = {
  resourceType: 'Communication',
  identifier: [{ system: 'urn:ietf:rfc:3986', value: 'urn:uuid:6f1c1c1e-0d1a-4c8e-9a43-2f0b5e7d9a11' }],
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  sent: '2026-11-22T10:00:00Z',
};
await step('create with If-None-Exist, twice', async () => {
  const ifNoneExist = { 'if-none-exist': `identifier=${encodeURIComponent('urn:ietf:rfc:3986|urn:uuid:6f1c1c1e-0d1a-4c8e-9a43-2f0b5e7d9a11')}` };
  const first = await fhir('Communication', { method: 'POST', body: message, headers: ifNoneExist });
  expect(first.status === 201 && first.headers.get('location')?.includes('/_history/'), `status ${first.status}`);
  const second = await fhir('Communication', { method: 'POST', body: message, headers: ifNoneExist });
  expect(second.status === 200 && second.body.id === first.body.id, `second: ${second.status}`);
  expect(writes.length === 1 && writes[0].method === 'POST' && writes[0].resource.id === first.body.id, `writes: ${writes.length}`);
});
await step('update with a stale If-Match is 412', async () => {
  const { status } = await fhir('Task/t1', { method: 'PUT', body: { ...task, status: 'completed' }, headers: { 'if-match': 'W/"stale"' } });
  expect(status === 412, `status ${status}`);
});
await step('an invalid create is 400 and not stored', async () => {
  const { status, body } = await fhir('Communication', { method: 'POST', body: { ...message, identifier: undefined, sent: 'yesterday' } });
  expect(status === 400 && body.issue.every((i) => i.code === 'invalid' && i.expression), `status ${status}`);
  expect(writes.length === 1, 'it was stored');
  return body.issue.map((i) => i.expression.join()).join(', ');
});
await step('no token is 401', async () => {
  const { status, body } = await fhir('Patient/p1', { auth: false });
  expect(status === 401 && body.resourceType === 'OperationOutcome', `status ${status}`);
});
await step('revoke ends the session', async () => {
  expect((await form(config.revocation_endpoint, { token: refresh })).status === 200, 'revoke failed');
  expect((await fhir('Patient/p1')).status === 401, 'the access token still works');
});

await server.stop();

test('the other FHIR server does what the app relies on, and refuses what it should', (t) => {
  for (const line of lines) t.diagnostic(line);
  if (failed) throw new Error(`${failed} step(s) failed:\n${lines.filter((l) => l.startsWith('FAIL')).join('\n')}`);
});
