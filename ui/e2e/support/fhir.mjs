// The test's own view of the back end: a token obtained through the same
// sign-in form (authorization code + PKCE), and FHIR reads with it.
import { createHash, randomBytes } from 'node:crypto';
import { submitSignIn } from './sign-in.mjs';

const b64url = (buf) => buf.toString('base64url');

export async function signInAs(fhirBase, username, password, scope = 'launch/patient patient/*.rs') {
  const config = await (await fetch(`${fhirBase}/.well-known/smart-configuration`)).json();
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const redirect = 'http://127.0.0.1:1/callback';
  const url = new URL(config.authorization_endpoint);
  const params = {
    response_type: 'code',
    client_id: 'carecycle-app',
    redirect_uri: redirect,
    scope,
    state: b64url(randomBytes(8)),
    aud: fhirBase,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const callback = new URL(await submitSignIn(url.href, username, password));
  const token = await fetch(config.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code'),
      redirect_uri: redirect,
      client_id: 'carecycle-app',
      code_verifier: verifier,
    }),
  });
  const body = await token.json();
  if (!token.ok) throw new Error(`token request failed: ${body.error}`);
  const get = async (path) => {
    const r = await fetch(`${fhirBase}/${path}`, { headers: { authorization: `Bearer ${body.access_token}` } });
    if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
    return r.json();
  };
  const send = async (method, path, resource) => {
    const r = await fetch(`${fhirBase}/${path}`, {
      method,
      headers: { authorization: `Bearer ${body.access_token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(resource),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  return { patient: body.patient, get, send };
}

export const entries = (bundle) => (bundle.entry ?? []).map((e) => e.resource);
