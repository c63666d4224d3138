// Hangar's test OpenID provider: the certified `oidc-provider` package, started by the
// integration tests on 127.0.0.1. It holds everything in memory and serves:
//
//   the provider itself       /.well-known/openid-configuration, /auth, /token, /me, /jwks, /session/end
//   a programmatic login      GET  /interaction/:uid          -> 200 "login" (a form) or, for consent, 303 onwards
//                             POST /interaction/:uid/login    (form: username, password) -> 303 onwards
//   an admin API for tests    POST /admin/clients             {client_id, client_secret, redirect_uris, post_logout_redirect_uris}
//                             POST /admin/users               {username, password, sub, groups, email, email_verified, name, preferred_username}
//                             POST /admin/users/:username/groups   {groups}
//                             POST /admin/users/:username/revoke   ends the user's provider sessions and grants (refresh tokens die)
//                             POST /admin/rotate-keys         a new signing key signs from now on; the old one stays published
//                             GET  /admin/stats               requests seen per endpoint
//
// Usage: node server.js [PORT] [OPTIONS_JSON]. PORT 0 (the default) picks a free port. When ready
// it prints one line of JSON on stdout: {"port": N, "issuer": "http://127.0.0.1:N"}. It exits when
// its standard input closes, so a test that dies takes its provider with it.
// OPTIONS_JSON: {"idTokenClaims": true} puts the user's claims (groups too) in the ID token.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.argv[2] ?? 0);
const options = JSON.parse(process.argv[3] ?? '{}');

// --- storage shared by every provider instance (key rotation builds a new instance) -----------

const store = new Map(); // "Model:id" -> { payload, expiresAt }
const clients = new Map(); // client_id -> metadata
const users = new Map(); // username -> { password, sub, claims }
const stats = new Map(); // path -> count

function key(model, id) {
  return `${model}:${id}`;
}

class Adapter {
  constructor(model) {
    this.model = model;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(key(this.model, id), { payload, expiresAt });
  }

  async find(id) {
    if (this.model === 'Client') {
      return clients.get(id);
    }
    const entry = store.get(key(this.model, id));
    if (!entry || entry.expiresAt < Date.now()) {
      return undefined;
    }
    return entry.payload;
  }

  async findByUserCode(userCode) {
    return this.#findBy((p) => p.userCode === userCode);
  }

  async findByUid(uid) {
    return this.#findBy((p) => p.uid === uid);
  }

  async #findBy(test) {
    for (const [k, entry] of store) {
      if (k.startsWith(`${this.model}:`) && test(entry.payload) && entry.expiresAt >= Date.now()) {
        return entry.payload;
      }
    }
    return undefined;
  }

  async consume(id) {
    const entry = store.get(key(this.model, id));
    if (entry) {
      entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
  }

  async destroy(id) {
    store.delete(key(this.model, id));
  }

  async revokeByGrantId(grantId) {
    for (const [k, entry] of store) {
      if (entry.payload.grantId === grantId) {
        store.delete(k);
      }
    }
  }
}

// --- signing keys -------------------------------------------------------------------------------

const keys = [];

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

// --- the provider -------------------------------------------------------------------------------

let issuer;
let provider;
let handler;

function findAccount(_ctx, sub) {
  const user = [...users.values()].find((u) => u.sub === sub);
  if (!user) {
    return undefined;
  }
  return {
    accountId: sub,
    async claims() {
      return { sub, ...user.claims };
    },
  };
}

function makeProvider() {
  const p = new Provider(issuer, {
    adapter: Adapter,
    jwks: { keys },
    findAccount,
    cookies: { keys: ['hangar-test-idp-cookie-key'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    conformIdTokenClaims: !options.idTokenClaims,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    // Refresh tokens for every client allowed the grant: Hangar asks for offline_access without
    // forcing a consent prompt on each login.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Grant: 86400,
      RefreshToken: 86400,
      Session: 86400,
    },
  });
  return p;
}

// --- the programmatic login ------------------------------------------------------------------------

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    return text ? JSON.parse(text) : {};
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function send(res, status, body, type = 'application/json') {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.end(type === 'application/json' ? JSON.stringify(body) : body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return send(res, 400, { error: 'interaction mismatch' });
  }
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    if (action !== 'login') {
      // A real form, so that a real browser can sign in too (tests/web).
      return send(
        res,
        200,
        `<!DOCTYPE html><title>login</title><form method="post" action="/interaction/${uid}/login">` +
          '<label>Username <input name="username" autocomplete="username"></label>' +
          '<label>Password <input name="password" type="password" autocomplete="current-password"></label>' +
          '<button type="submit">login</button></form>',
        'text/html',
      );
    }
    const body = await readBody(req);
    const user = users.get(body.username);
    if (!user || user.password !== body.password || user.disabled) {
      return send(res, 401, { error: 'wrong username or password' });
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) {
      grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    }
    if (prompt.details.missingOIDCClaims) {
      grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, { error: `unknown prompt ${prompt.name}` });
}

// --- the admin API ------------------------------------------------------------------------------------

async function admin(req, res, path) {
  const body = req.method === 'POST' ? await readBody(req) : {};
  let m;
  if (req.method === 'GET' && path === '/admin/stats') {
    return send(res, 200, Object.fromEntries(stats));
  }
  if (path === '/admin/clients') {
    clients.set(body.client_id, {
      client_id: body.client_id,
      client_secret: body.client_secret,
      redirect_uris: body.redirect_uris,
      post_logout_redirect_uris: body.post_logout_redirect_uris ?? [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: body.token_endpoint_auth_method ?? 'client_secret_basic',
    });
    return send(res, 200, { ok: true });
  }
  if (path === '/admin/users') {
    const sub = body.sub ?? randomUUID();
    users.set(body.username, {
      password: body.password,
      sub,
      claims: {
        email: body.email ?? `${body.username}@example.com`,
        email_verified: body.email_verified ?? true,
        name: body.name ?? body.username,
        preferred_username: body.preferred_username ?? body.username,
        groups: body.groups ?? [],
      },
    });
    return send(res, 200, { sub });
  }
  if ((m = path.match(/^\/admin\/users\/([^/]+)\/groups$/))) {
    const user = users.get(decodeURIComponent(m[1]));
    if (!user) return send(res, 404, { error: 'no such user' });
    user.claims.groups = body.groups ?? [];
    return send(res, 200, { ok: true });
  }
  if ((m = path.match(/^\/admin\/users\/([^/]+)\/revoke$/))) {
    const user = users.get(decodeURIComponent(m[1]));
    if (!user) return send(res, 404, { error: 'no such user' });
    for (const [k, entry] of [...store]) {
      const p = entry.payload;
      if (p.accountId === user.sub || p.account === user.sub) {
        store.delete(k);
        if (k.startsWith('Grant:')) {
          await new Adapter('Grant').revokeByGrantId(k.slice('Grant:'.length));
        }
      }
    }
    return send(res, 200, { ok: true });
  }
  if (path === '/admin/rotate-keys') {
    keys.unshift(await newKey());
    provider = makeProvider();
    handler = provider.callback();
    return send(res, 200, { kid: keys[0].kid });
  }
  return send(res, 404, { error: 'no such admin endpoint' });
}

// --- the server -----------------------------------------------------------------------------------------

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  stats.set(path, (stats.get(path) ?? 0) + 1);
  try {
    if (path.startsWith('/admin/')) {
      return await admin(req, res, path);
    }
    const m = path.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (m) {
      return await interaction(req, res, m[1], m[2] ? 'login' : 'show');
    }
    return handler(req, res);
  } catch (err) {
    return send(res, 500, { error: String(err?.message ?? err) });
  }
});

keys.push(await newKey());
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  issuer = `http://127.0.0.1:${actual}`;
  provider = makeProvider();
  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ port: actual, issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
