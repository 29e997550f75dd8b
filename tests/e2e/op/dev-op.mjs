// A real, OpenID Certified provider (panva's oidc-provider) for the portal's end-to-end sign-in test.
//
// Test-only: fixed accounts, any password accepted, keys and cookies regenerated on every start.
// Configured from the environment:
//   PORT           port to listen on (127.0.0.1 only)
//   ISSUER         the issuer identifier, e.g. http://127.0.0.1:PORT
//   CLIENT_ID      the portal's client id (default "portal")
//   CLIENT_SECRET  the portal's client secret
//   REDIRECT_URI   <portal base>/auth/callback/<provider key>
// Prints "ready <issuer>" on stdout once it is listening.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import process from 'node:process';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`dev-op: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const port = Number.parseInt(required('PORT'), 10);
const issuer = required('ISSUER');
const clientId = process.env.CLIENT_ID || 'portal';
const clientSecret = required('CLIENT_SECRET');
const redirectUri = required('REDIRECT_URI');

// The people this provider knows. org_id is the organisation claim the portal binds to organisations.
const ACCOUNTS = {
  'e2e.practitioner': {
    name: 'Erin Endtoend',
    email: 'erin.endtoend@hilltop-gp.test',
    org_id: 'ods:Y98001',
  },
  // an organisation claim that no provider binding names
  'e2e.other': {
    name: 'Oscar Other',
    email: 'oscar.other@elsewhere.test',
    org_id: 'ods:Y98999',
  },
  // asserts the demo council's claim value, which is bound to the built-in development provider only
  'e2e.council-claim': {
    name: 'Ivy Imposter',
    email: 'ivy.imposter@example-council.test',
    org_id: 'la:E99000001',
  },
};

async function findAccount(ctx, id) {
  const account = Object.hasOwn(ACCOUNTS, id) ? ACCOUNTS[id] : undefined;
  if (!account) {
    return undefined;
  }
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        name: account.name,
        email: account.email,
        email_verified: true,
        org_id: account.org_id,
      };
    },
  };
}

// a fresh signing key on every start, so no key material lives in the repository
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  use: 'sig',
  alg: 'RS256',
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
    org: ['org_id'],
  },
  // put the scope-granted claims (org_id above all) in the id_token, not only at userinfo
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
  },
  // short, explicit lifetimes (seconds): this provider only lives for one test
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    Grant: 3600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
  },
  findAccount,
});

provider.on('server_error', (ctx, err) => {
  console.error('dev-op: server_error', err);
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

function stop() {
  server.close(() => process.exit(0));
  // do not wait on keep-alive connections
  server.closeAllConnections?.();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
