// panva's oidc-provider (OpenID Certified) as a real provider process for the gateway's
// interoperability tests. Configured from the environment:
//   PORT                 port on 127.0.0.1 (0: any; the chosen one is printed as "listening <url>")
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI   the one client (the gateway), client_secret_basic only
//   PROVIDER_JWKS        {"keys": [private JWKs]}: the first signs; the others stay published
//   CLOCK_SKEW_SECONDS   this process's clock runs this far ahead (negative: behind) of the host's
// PKCE (S256) is required; accounts are whatever subject logs in, with an email and a name.

const skewMs = Number(process.env.CLOCK_SKEW_SECONDS || 0) * 1000;
if (skewMs) {
  // The whole process's clock, as libfaketime would skew it: Date.now() and new Date() alike.
  const RealDate = Date;
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + skewMs);
      else super(...args);
    }

    static now() {
      return RealDate.now() + skewMs;
    }
  }
  globalThis.Date = SkewedDate;
}

// Imported after the clock is set, so that every module reads the skewed one.
const { default: Provider } = await import('oidc-provider');

const port = Number(process.env.PORT || 0);
const { CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
const jwks = JSON.parse(process.env.PROVIDER_JWKS);

function configuration(issuerPort) {
  return {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    // Discovery lists only this method: a client must send its secret with HTTP Basic.
    clientAuthMethods: ['client_secret_basic'],
    pkce: { required: () => true },
    jwks,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    scopes: ['openid', 'email', 'profile'],
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return {
            sub, email: `${sub}@example.com`, email_verified: true, name: `User ${sub}`,
          };
        },
      };
    },
    cookies: { keys: ['interop-tests-only'] },
    issuerPort,
  };
}

// The issuer names the port, so listen first, then build the provider on that port.
const { createServer } = await import('node:http');
const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const { issuerPort, ...config } = configuration(actual);
  const provider = new Provider(`http://127.0.0.1:${issuerPort}`, config);
  server.on('request', provider.callback());
  console.log(`listening http://127.0.0.1:${actual}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
