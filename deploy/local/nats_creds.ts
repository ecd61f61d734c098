/**
 * Writes a NATS user credentials file (`.creds`, the format `nsc` writes) and
 * prints the user's public nkey, which `services.sh --secure` lists among the
 * users of its nats-server.
 *
 * That server runs without an operator, so it authenticates the user by the
 * signature of its nkey seed alone; the user JWT in the file is signed by an
 * account key made here and thrown away, which a server in operator mode would
 * not trust.
 *
 * ```sh
 * deno run --frozen --allow-write deploy/local/nats_creds.ts .cache/secure/secrets/tastesync.creds
 * ```
 *
 * @module
 */
import { nkeys } from "@nats-io/transport-node";

/** Name of the user in its JWT. */
const USER_NAME = "tastesync";

const base64Url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const encode = (value: unknown) => base64Url(new TextEncoder().encode(JSON.stringify(value)));

const [path] = Deno.args;
if (!path) {
  console.error("usage: nats_creds.ts FILE");
  Deno.exit(2);
}

const account = nkeys.createAccount();
const user = nkeys.createUser();
const signed = `${encode({ typ: "JWT", alg: "ed25519-nkey" })}.${
  encode({
    iat: Math.floor(Date.now() / 1000),
    iss: account.getPublicKey(),
    name: USER_NAME,
    sub: user.getPublicKey(),
    nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: "user", version: 2 },
  })
}`;
const jwt = `${signed}.${base64Url(account.sign(new TextEncoder().encode(signed)))}`;
const seed = new TextDecoder().decode(user.getSeed());

await Deno.writeTextFile(
  path,
  `-----BEGIN NATS USER JWT-----
${jwt}
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
${seed}
------END USER NKEY SEED------

*************************************************************
`,
  { mode: 0o600 },
);
console.log(user.getPublicKey());
