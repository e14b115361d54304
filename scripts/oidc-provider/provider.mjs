// An OpenID provider for Parley's tests: npm's oidc-provider (pinned in package-lock.json), configured from a
// JSON file, with its own login page and a few test-only controls. Everything is kept in memory.
//
//   node provider.mjs PORT CONFIG_JSON_PATH        (scripts/oidc-provider/run installs it and prints this file's path)
//
// CONFIG_JSON_PATH holds
//   { "clients":  [{ "client_id", "client_secret", "redirect_uris": [..],
//                    "token_endpoint_auth_method"?: "client_secret_basic" (default) | "client_secret_post" }],
//     "accounts": [{ "sub", "email", "email_verified", "name", "preferred_username" }],
//     "alg"?: "RS256" (default) | "ES256",          the ID tokens' signing algorithm
//     "id_token_ttl"?: 3600 }                          seconds, at least 1
//
// It listens on 127.0.0.1:PORT with the issuer http://127.0.0.1:PORT and prints "listening on PORT" when ready (a
// port in use ends it with status 1). The OpenID side is oidc-provider's: discovery at
// /.well-known/openid-configuration, JWKS at /jwks, /auth, /token, /me (userinfo). Only the authorization code
// flow, PKCE required (S256, the only method it has), the nonce echoed in the ID token, and the scopes' claims
// (email: email, email_verified; profile: name, preferred_username) put in the ID token itself.
//
// Login (instead of oidc-provider's devInteractions), for a browser and for a plain HTTP client with cookies:
//   GET  /interaction/:uid        an HTML form: a text input labelled "Username" named `login`, a "Sign in" button
//   POST /interaction/:uid/login  (form-encoded `login`) signs in the account whose preferred_username (or sub) it
//                                 is and grants "openid email profile" to the client: 303 to /auth/:uid, which
//                                 redirects to the client's redirect_uri with code, state and iss. An unknown
//                                 username gets the form again, with status 401 and an alert.
// The login stays in the `_session` cookie: a later authorization in the same cookie jar signs in the same account
// without a form (use a fresh jar or `prompt=login` for another; a login as someone else there asks to log out).
//
// Test controls (JSON in and out):
//   POST /__test/rotate-keys  {"keep_old"?: false}  a new signing key with a new kid: later ID tokens are signed with
//                             it and /jwks lists only it (or it and the older ones, with keep_old). → {"kid","kids"}
//   POST /__test/id-tokens    {"ttl"?: seconds >= 1, "expired"?: bool}  later ID tokens live `ttl` seconds, or with
//                             expired: true carry iat an hour ago and exp a minute ago (until expired: false).
//                             → {"ttl","expired"}
//   POST /__test/clients      a client as in the configuration: added, or replacing the one with its client_id
//                             (for a relying party whose redirect URI is known only once it runs). → {"client_id"}
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const [port, configPath] = process.argv.slice(2);
if (!port || !configPath) {
  console.error('usage: node provider.mjs PORT CONFIG_JSON_PATH');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;
const alg = config.alg ?? 'RS256';
const accounts = config.accounts ?? [];
// Cookies are signed with this: the same across rotations, so a login survives one.
const cookieKeys = [randomBytes(32).toString('hex')];

// What the test controls change.
const state = {
  keys: [signingKey()], // private JWKs, the first signs
  idTokenTtl: config.id_token_ttl ?? 3600,
  expiredIdTokens: false,
};

// A new private signing JWK for `alg`, with a kid of its own.
function signingKey() {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg, use: 'sig' };
}

function findAccount(id) {
  return accounts.find((a) => a.preferred_username === id) ?? accounts.find((a) => a.sub === id);
}

// An oidc-provider instance with the current keys and clients, which it reads once, at construction: a rotation
// (or a new client) makes a new one. Its in-memory adapter is one store per process, and the cookie keys stay, so
// sessions, interactions, grants and codes from the instance before carry over.
function makeProvider() {
  const provider = new Provider(issuer, {
    clients: (config.clients ?? []).map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
      id_token_signed_response_alg: alg,
    })),
    jwks: { keys: state.keys },
    async findAccount(ctx, sub) {
      const account = accounts.find((a) => a.sub === sub);
      return account && {
        accountId: account.sub,
        async claims() {
          const { sub: s, email, email_verified, name, preferred_username } = account;
          return { sub: s, email, email_verified, name, preferred_username };
        },
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    // The scopes' claims in the ID token too, not only from userinfo.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: cookieKeys },
    ttl: {
      IdToken: () => state.idTokenTtl,
      AccessToken: 3600,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
  });
  // An already expired ID token: oidc-provider's ttl must be positive, but IdToken#issue takes an `expiresAt`
  // (internal; exp = expiresAt), and an `iat` set on the token is kept.
  const { issue } = provider.IdToken.prototype;
  provider.IdToken.prototype.issue = function issueMaybeExpired(options = {}) {
    if (options.use !== 'idtoken' || !state.expiredIdTokens) return issue.call(this, options);
    const now = Math.floor(Date.now() / 1000);
    this.set('iat', now - 3600);
    return issue.call(this, { ...options, expiresAt: now - 60 });
  };
  provider.on('server_error', (ctx, error) => console.error('server_error', error));
  return provider;
}

let provider;
let handler;
// A new instance with the current keys and clients, serving from the next request on.
function renew() {
  provider = makeProvider();
  handler = provider.callback();
}
renew();

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, clientId, alert) {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<main>
<h1>Sign in to the test provider</h1>
<p>to continue to ${escape(clientId)}</p>
${alert ? `<p role="alert">${escape(alert)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">Username</label>
<input id="login" name="login" type="text" autocomplete="username" required autofocus>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`;
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// Signs `accountId` in and grants the client the OpenID scopes; 303 back into the authorization.
async function finish(req, res, details, accountId) {
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope('openid email profile');
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, {
    mergeWithLastSubmission: false,
  });
}

async function route(req, res) {
  const { pathname } = new URL(req.url, issuer);
  let match;
  if ((match = pathname.match(/^\/interaction\/([^/]+)$/)) && req.method === 'GET') {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      // Signed in already (the session cookie): consent is automatic.
      return finish(req, res, details, details.session.accountId);
    }
    return send(res, 200, 'text/html; charset=utf-8', loginPage(match[1], details.params.client_id));
  }
  if ((match = pathname.match(/^\/interaction\/([^/]+)\/login$/)) && req.method === 'POST') {
    const details = await provider.interactionDetails(req, res);
    const login = new URLSearchParams(await body(req)).get('login') ?? '';
    const account = findAccount(login.trim());
    if (!account) {
      const page = loginPage(match[1], details.params.client_id, `No account named "${login}".`);
      return send(res, 401, 'text/html; charset=utf-8', page);
    }
    return finish(req, res, details, account.sub);
  }
  if (pathname === '/__test/rotate-keys' && req.method === 'POST') {
    const options = JSON.parse((await body(req)) || '{}');
    state.keys = options.keep_old ? [signingKey(), ...state.keys] : [signingKey()];
    renew();
    return send(res, 200, 'application/json', JSON.stringify({
      kid: state.keys[0].kid,
      kids: state.keys.map((k) => k.kid),
    }));
  }
  if (pathname === '/__test/clients' && req.method === 'POST') {
    const client = JSON.parse(await body(req));
    config.clients = [...(config.clients ?? []).filter((c) => c.client_id !== client.client_id), client];
    renew();
    return send(res, 200, 'application/json', JSON.stringify({ client_id: client.client_id }));
  }
  if (pathname === '/__test/id-tokens' && req.method === 'POST') {
    const options = JSON.parse((await body(req)) || '{}');
    if (options.ttl !== undefined) {
      if (!Number.isInteger(options.ttl) || options.ttl < 1) {
        return send(res, 400, 'application/json', JSON.stringify({ error: 'ttl must be an integer >= 1' }));
      }
      state.idTokenTtl = options.ttl;
    }
    if (options.expired !== undefined) state.expiredIdTokens = Boolean(options.expired);
    return send(res, 200, 'application/json', JSON.stringify({
      ttl: state.idTokenTtl,
      expired: state.expiredIdTokens,
    }));
  }
  return handler(req, res);
}

createServer((req, res) => {
  route(req, res).catch((error) => {
    // interactionDetails without its cookie (SessionNotFound) and the like.
    console.error(error);
    if (!res.headersSent) send(res, error.statusCode ?? 500, 'text/plain', `${error.name}: ${error.message}\n`);
  });
}).listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));
