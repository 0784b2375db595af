// Verify a JWT the way a third party would, with panva's jose: the signature against a JWKS URL,
// the header typ, the issuer and the audience. Prints the claims as JSON, or the reason on stderr
// with exit status 1.
//   node verify.mjs TOKEN JWKS_URL ISSUER AUDIENCE TYP
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [token, jwksUrl, issuer, audience, typ] = process.argv.slice(2);
try {
  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(jwksUrl)), {
    issuer, audience, typ, algorithms: ['RS256'],
  });
  console.log(JSON.stringify(payload));
} catch (error) {
  console.error(`${error.code}: ${error.message}`);
  process.exit(1);
}
