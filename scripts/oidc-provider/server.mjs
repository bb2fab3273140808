// A real OpenID Connect provider for authgate's social sign-in tests
// (contract §16): panva's oidc-provider with its development login and
// consent pages, on 127.0.0.1 and a free port. It prints one line of JSON,
// {"issuer": "http://127.0.0.1:PORT"}, once it listens, and serves until
// its standard input closes (so it dies with the test process that
// started it).
//
// Accounts are made up from the login typed on the login page (any
// password works):
//   alice            sub "alice", email alice@example.com, email_verified true
//   unverified:bob   sub "unverified:bob", email bob@example.com, email_verified false
//   noemail:carl     sub "noemail:carl", no email at all
// A login may carry a domain: "alice@corp.test" gives the email
// alice@corp.test.
//
// Clients (any http://127.0.0.1:PORT/... redirect URI is allowed):
//   authgate / authgate-secret   client_secret_basic (the OIDC client)
//   other / other-secret         another audience
//   github / github-secret       client_secret_post, the OAuth 2.0 flow
//                                authgate's `github` provider runs against
//                                this provider's endpoints
//
// GitHub's API, as authgate reads it, under /github (Bearer: an access
// token this provider issued): GET /github/user -> {id, login, name};
// GET /github/user/emails -> [{email, primary, verified, visibility}].
//
// Environment: OIDC_ID_TOKEN_TTL (seconds, default 3600).

import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const ttl = Number(process.env.OIDC_ID_TOKEN_TTL || 3600);

function person(id) {
  const [kind, rest] = id.includes(':') ? id.split(/:(.*)/s) : ['', id];
  const name = rest.includes('@') ? rest.split('@')[0] : rest;
  const email = rest.includes('@') ? rest : `${rest}@example.com`;
  const claims = { sub: id, given_name: name.charAt(0).toUpperCase() + name.slice(1), family_name: 'Tester' };
  if (kind !== 'noemail') {
    claims.email = email;
    claims.email_verified = kind !== 'unverified';
  }
  return claims;
}

const server = createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const client = (id, auth) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  redirect_uris: ['http://127.0.0.1/callback'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: auth,
});

const provider = new Provider(issuer, {
  clients: [
    client('authgate', 'client_secret_basic'),
    client('other', 'client_secret_basic'),
    client('github', 'client_secret_post'),
  ],
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return person(id); } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name'],
  },
  // Only `openid`-scoped requests issue ID tokens; GitHub's scope names
  // are accepted (and mean nothing here).
  scopes: ['openid', 'email', 'profile', 'read:user', 'user:email'],
  pkce: { methods: ['S256'], required: () => false },
  ttl: { IdToken: ttl, AccessToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
  cookies: { keys: ['authgate-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  // Scope claims (email, names) in the ID token itself, as Google does.
  conformIdTokenClaims: false,
});

// Any loopback redirect URI, whatever its port: each test's authgate
// listens on a port of its own.
provider.Client.prototype.redirectUriAllowed = function allowLoopback(value) {
  try {
    return new URL(value).origin.startsWith('http://127.0.0.1:');
  } catch {
    return false;
  }
};

async function githubApi(ctx) {
  const auth = ctx.get('authorization') || '';
  const token = auth.replace(/^(bearer|token) /i, '');
  const found = token ? await provider.AccessToken.find(token) : undefined;
  if (!found) {
    ctx.status = 401;
    ctx.body = { message: 'Bad credentials' };
    return;
  }
  const claims = person(found.accountId);
  if (ctx.path === '/github/user') {
    ctx.body = { id: [...found.accountId].reduce((n, c) => (n * 31 + c.charCodeAt(0)) % 2147483647, 7), login: found.accountId, name: `${claims.given_name} ${claims.family_name}` };
  } else if (ctx.path === '/github/user/emails') {
    ctx.body = claims.email
      ? [
        { email: `other-${claims.email}`, primary: false, verified: true, visibility: null },
        { email: claims.email, primary: true, verified: claims.email_verified, visibility: 'private' },
      ]
      : [];
  } else {
    ctx.status = 404;
    ctx.body = { message: 'Not Found' };
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/github/')) {
    await githubApi(ctx);
    return;
  }
  await next();
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
