// A real OpenID Provider (npm oidc-provider) on loopback for the sign-in tests, with a static
// client and two people whose groups travel in the ID token (or, with "userinfo", only in the
// userinfo answer). Its development login form accepts any password: the provider is not what
// is under test, the broker's relying-party checks are.
// Usage: node op.mjs PORT REDIRECT_URI [ID_TOKEN_TTL_SECS] [id-token|userinfo] [ISSUER_HOST]
// GET /test-clock?offset=SECS moves the provider's clock (a test control, not OIDC): with it an
// hour behind, the tokens it issues next are already expired.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "package.json"));
const { default: Provider } = await import(require.resolve("oidc-provider"));

const [port, redirectUri, ttl = "600", mode = "id-token", host = "127.0.0.1"] = process.argv.slice(2);
let offset = 0;
const realNow = Date.now;
Date.now = () => realNow() + offset * 1000;
const people = {
  alice: { name: "Alice Oidc", groups: ["AWS-123456789012-Admin", "oidc-staff"] },
  bob: { name: "Bob Oidc", groups: ["oidc-staff"] },
};

// A fresh signing key at every start: restarting the provider rotates its keys.
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: randomUUID(), use: "sig", alg: "RS256" };

const provider = new Provider(`http://${host}:${port}`, {
  jwks: { keys: [signingKey] },
  clients: [{
    client_id: "fedbroker",
    client_secret: "fedbroker-client-secret",
    redirect_uris: [redirectUri],
    response_types: ["code"],
    grant_types: ["authorization_code"],
  }],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "preferred_username"],
    groups: ["groups"],
  },
  scopes: ["openid", "email", "profile", "groups"],
  conformIdTokenClaims: mode === "userinfo",
  findAccount: async (ctx, sub) => people[sub] && {
    accountId: sub,
    claims: async () => ({
      sub,
      email: `${sub}@op.example.com`,
      email_verified: true,
      name: people[sub].name,
      preferred_username: sub,
      groups: people[sub].groups,
    }),
  },
  ttl: { IdToken: Number(ttl), AccessToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
  cookies: { keys: ["op-test-cookie-key"] },
});
provider.use(async (ctx, next) => {
  if (ctx.path === "/test-clock") {
    offset = Number(ctx.query.offset || 0);
    ctx.body = `offset ${offset}`;
    return;
  }
  await next();
});
provider.on("server_error", (ctx, err) => console.error(`server_error ${err}`));
provider.listen(Number(port), "127.0.0.1", () => console.log(`listening on ${port}`));
