// A real OpenID Connect provider for tests: panva's certified `oidc-provider` (8.x), run locally.
//
// The app's "Sign in with <provider>" is tested against this, through the provider's own login
// page and redirects: authorization code flow with PKCE (S256), state, nonce, discovery and
// ID tokens signed with a key published at /jwks.
//
// Start it (from the repository root, after `npm ci` in end2end/):
//
//   OIDC_PORT=8790 \
//   OIDC_REDIRECT_URIS=http://127.0.0.1:8200/auth/oidc/callback \
//   node end2end/oidc/provider.mjs
//
// It needs Node 18 or newer and end2end/node_modules (oidc-provider is pinned to 8.x there: 9.x
// needs Node 22). It prints exactly one line to stdout once it accepts connections:
//
//   oidc-provider ready on http://127.0.0.1:8790
//
// and exits 0 on SIGTERM or SIGINT. Warnings from the library (development-only features are on,
// on purpose) go to stderr. Everything lives in memory: a restart forgets sessions and codes.
//
// Environment:
//   OIDC_PORT             required; listens on 127.0.0.1:<port>, issuer is http://127.0.0.1:<port>
//   OIDC_REDIRECT_URIS    required; comma-separated redirect URIs of the one client
//   OIDC_CLIENT_ID        default "switchboard"
//   OIDC_CLIENT_SECRET    default "switchboard-secret"
// The token endpoint takes the secret either way: HTTP Basic (client_secret_basic, what the
// client is registered with) or client_id + client_secret in the form body (client_secret_post).
//
// Signing in: the login page is the library's development page (features.devInteractions). It
// accepts ANY login name; the password is ignored but the field is `required` in the HTML, so a
// browser test must fill it with something:
//
//   input[name=login]      text, placeholder "Enter any login"
//   input[name=password]   password, placeholder "and password"
//   button "Sign-in"       (button[type=submit])
//
// There is no consent page: the client is first-party, and loadExistingGrant below grants it
// "openid profile email" on the spot. The account for login name L has the claims
//   sub = L, preferred_username = L, name = L with its first letter capitalised,
//   email = L@example.test, email_verified = true
// and they are in the ID token as well as at /me (userinfo).
//
// Also useful to a test: the login page's "[ Cancel ]" link redirects back with
// error=access_denied. Once signed in, the browser has a provider session (cookie oidc_session):
// a second sign-in from the same browser context skips the login page (prompt=login forces it).
// Errors that cannot go back to the client (e.g. an unregistered redirect_uri) are an HTML page
// titled "oops! something went wrong". The callback carries code, state and iss (RFC 9207).
// Endpoints, all from /.well-known/openid-configuration: /auth, /token, /me, /jwks, /session/end.

import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oidc-provider: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('OIDC_PORT'));
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`oidc-provider: OIDC_PORT is not a port: ${process.env.OIDC_PORT}`);
  process.exit(2);
}
const redirectUris = required('OIDC_REDIRECT_URIS').split(',').map((uri) => uri.trim()).filter(Boolean);
const clientId = process.env.OIDC_CLIENT_ID || 'switchboard';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'switchboard-secret';

const issuer = `http://127.0.0.1:${port}`;
const scopes = 'openid profile email';

// A fresh RS256 signing key every run (not the library's built-in development key, which is public
// and never changes): a client has to fetch /jwks to validate ID tokens, as it would in production.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    // Plain http redirect URIs are allowed for a web client using the code flow; only the
    // implicit flow would insist on https. The issuer may be http too; nothing else is needed.
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // oidc-provider accepts client_secret_post as well for a client registered with this.
    token_endpoint_auth_method: 'client_secret_basic',
    scope: scopes,
  }],
  responseTypes: ['code'], // nothing but the code flow is offered (and advertised in discovery)

  jwks: { keys: [signingKey] },

  // Every authorization request must carry a code_challenge; S256 is the only method offered.
  pkce: { methods: ['S256'], required: () => true },

  scopes: scopes.split(' '),
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  // Put the scope's claims into the ID token too, not only behind the userinfo endpoint.
  conformIdTokenClaims: false,

  // Any login name is an account.
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          preferred_username: sub,
          name: sub.charAt(0).toUpperCase() + sub.slice(1),
          email: `${sub}@example.test`,
          email_verified: true,
        };
      },
    };
  },

  // No consent prompt: once the user has logged in, grant the (first-party) client every scope
  // it may ask for. The library's default only reuses a grant that a consent page produced.
  // A grant the session already has is reused, unless it is gone: replaying an authorization
  // code revokes its grant, and the next sign-in must not stop at a consent page then either.
  async loadExistingGrant(ctx) {
    const { Grant } = ctx.oidc.provider;
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    const grant = (grantId && await Grant.find(grantId)) || new Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(scopes);
    await grant.save();
    return grant;
  },

  features: {
    devInteractions: { enabled: true }, // the built-in login page described above
  },

  cookies: {
    // Cookies ignore ports: the browser sends these to the app on 127.0.0.1 too, and the app's
    // to the provider. Prefixed names keep them from colliding with the app's (`_session` etc.).
    names: {
      session: 'oidc_session',
      interaction: 'oidc_interaction',
      resume: 'oidc_interaction_resume',
    },
    keys: [randomBytes(32).toString('hex')], // sign the session cookies, fresh every run
    // The library's default for the session cookie is SameSite=None, which Chromium rejects
    // unless the cookie is also Secure, which it cannot be over http. Lax works: the app and the
    // provider are the same site (127.0.0.1) and every hop of the flow is a top-level navigation.
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
});

// The library's HTML pages (login, logout, error) @import a web font from fonts.googleapis.com.
// Strip that, so a browser test never reaches for the internet (or waits for it to time out).
provider.use(async (ctx, next) => {
  await next();
  if (ctx.response.is('html') && typeof ctx.body === 'string') {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com\/[^)]*\);?/g, '');
  }
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready on ${issuer}`);
});
server.on('error', (err) => {
  console.error(`oidc-provider: ${err.message}`);
  process.exit(1);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // do not wait for idle keep-alive connections
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
