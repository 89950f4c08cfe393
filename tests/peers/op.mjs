// A real OpenID Provider (npm oidc-provider) on loopback for the sign-in tests, with a static
// client and two people whose groups travel in the ID token (or, with "userinfo", only in the
// userinfo answer). Its development login form accepts any password: the provider is not what
// is under test, the broker's relying-party checks are.
// Usage: node op.mjs PORT REDIRECT_URI [ID_TOKEN_TTL_SECS] [id-token|userinfo] [ISSUER_HOST]
// GET /test-clock?offset=SECS moves the provider's clock (a test control, not OIDC): with it an
// hour behind, the tokens it issues next are already expired.
// GET /test-tamper?mode=MODE makes the token endpoint hand out a forged ID token (test control):
// "aud" (re-signed for another client), "iss" (re-signed naming another issuer), "sig" (one
// signature byte changed), "kid" (signed with a key the JWKS never publishes); "none" stops it.
// GET /test-stats answers {"jwks": N}, how often the JWKS was fetched.
// The userinfo answer for "mallory" names another subject, as a mixed-up provider might.
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";
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
  // Sends the broker's admin group name; must not become an admin by it.
  root: { name: "Root Oidc", groups: ["fedbroker-admins", "oidc-staff"] },
  // An address the provider never verified.
  carol: { name: "Carol Oidc", groups: ["oidc-staff"], emailVerified: false },
  mallory: { name: "Mallory Oidc", groups: ["AWS-123456789012-Admin"] },
  // Usernames as a careless directory spells them.
  dana: { name: "Dana Oidc", groups: ["oidc-staff"], username: "DANA" },
  eve: { name: "Eve Oidc", groups: ["oidc-staff"], username: "eve\u202Eadmin" },
};

// A fresh signing key at every start: restarting the provider rotates its keys.
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: randomUUID(), use: "sig", alg: "RS256" };
// Never published: what an attacker without the provider's key would sign with.
const { privateKey: strangerKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
let tamper = "none";
let jwksFetches = 0;

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
function resign(idToken, change, key, kid) {
  const [head, body] = idToken.split(".");
  const header = { ...JSON.parse(Buffer.from(head, "base64url")), kid };
  const payload = { ...JSON.parse(Buffer.from(body, "base64url")), ...change };
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
}
function forge(idToken) {
  switch (tamper) {
    case "aud": return resign(idToken, { aud: "another-client" }, privateKey, signingKey.kid);
    case "iss": return resign(idToken, { iss: "http://issuer.evil.example" }, privateKey, signingKey.kid);
    case "kid": return resign(idToken, {}, strangerKey, randomUUID());
    case "sig": {
      const [head, body, signature] = idToken.split(".");
      const bytes = Buffer.from(signature, "base64url");
      bytes[bytes.length - 1] ^= 0x01;
      return `${head}.${body}.${bytes.toString("base64url")}`;
    }
    default: return idToken;
  }
}

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
      email_verified: people[sub].emailVerified ?? true,
      name: people[sub].name,
      preferred_username: people[sub].username ?? sub,
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
  if (ctx.path === "/test-tamper") {
    tamper = String(ctx.query.mode || "none");
    ctx.body = `tamper ${tamper}`;
    return;
  }
  if (ctx.path === "/test-stats") {
    ctx.body = { jwks: jwksFetches };
    return;
  }
  if (ctx.path === "/jwks") jwksFetches += 1;
  await next();
  if (ctx.path === "/token" && ctx.body && typeof ctx.body.id_token === "string") {
    ctx.body = { ...ctx.body, id_token: forge(ctx.body.id_token) };
  }
  if (ctx.path === "/me" && ctx.body && ctx.body.sub === "mallory") {
    ctx.body = { ...ctx.body, sub: "other-subject" };
  }
});
provider.on("server_error", (ctx, err) => console.error(`server_error ${err}`));
provider.listen(Number(port), "127.0.0.1", () => console.log(`listening on ${port}`));
