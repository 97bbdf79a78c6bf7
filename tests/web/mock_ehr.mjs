// The EHR's side of a SMART launch, for tests: oauth2-mock-server (a maintained OAuth2/OIDC test
// server) with hooks that add what SMART needs, plus a thin FHIR gateway in front of HAPI that
// checks the bearer tokens this server issued (expiry, granted scopes) like an EHR's API would.
//
//   node mock_ehr.mjs <port> <hapi-base> <node_modules-dir>
//
// Serves, on 127.0.0.1:<port>:
//   /fhir/.well-known/smart-configuration   SMART discovery (iss = http://127.0.0.1:<port>/fhir)
//   /fhir/*                                  proxied to HAPI when the bearer token is valid
//   /authorize, /token, /jwks ...            oauth2-mock-server
//   POST /__control                          test knobs (JSON): patient, fhirUser, deny, withhold,
//                                            expiresIn, clientSecret, clientJwk, leakPatient (an EHR
//                                            that grants more than it should: every patient search
//                                            also returns that patient's resources), ...; GET returns
//                                            counters
import http from "node:http";
import crypto from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [port, hapiBase, nodeModules] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const { OAuth2Server } = await import(pathToFileURL(path.join(nodeModules, "oauth2-mock-server", "dist", "index.mjs")));

const origin = `http://127.0.0.1:${port}`;
const iss = `${origin}/fhir`;
const DEFAULTS = { patient: null, fhirUser: "Practitioner/example", deny: false, withhold: [], expiresIn: 3600,
                  clientSecret: null, clientJwk: null, leakPatient: null,
                  // refresh responses as EHRs send them: refreshIdToken "reissue" | "absent" | "noaud" |
                  // "otherClient" | "badsig" | "otherSub"; refreshRotate false keeps the old refresh
                  // token; refreshError "invalid_grant" | "server_error" | "garbage" fails the refresh
                  refreshIdToken: "reissue", refreshRotate: true, refreshError: null,
                  // the launch id_token spoilt: "badsig" | "nonce" | "expired" | "aud" | "iss"
                  idTokenQuirk: null,
                  // types the EHR refuses to write whatever the token says (a policy of its own)
                  refuseTypes: [] };
const control = { ...DEFAULTS };
const counters = { authorize: 0, token: 0, refresh: 0, fhir: 0, fhir401: 0, fhir403: 0 };
const codes = new Map();   // code -> {scope, launch, aud}
const tokens = new Map();  // access token -> {scope, exp, patient}
const refreshes = new Map(); // refresh token -> {scope, patient}

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
server.issuer.url = origin;
const svc = server.service;

function grantedScope(requested) {
  return requested.split(" ").filter((s) => s && !control.withhold.some((w) => s.includes(w))).join(" ");
}

svc.on("beforeAuthorizeRedirect", (redirect, req) => {
  counters.authorize++;
  const url = redirect.url;
  const q = req.query;
  if (control.deny) {
    url.searchParams.delete("code");
    url.searchParams.set("error", "access_denied");
    return;
  }
  if (q.aud !== iss) {  // SMART: the EHR refuses an aud that is not its FHIR base
    url.searchParams.delete("code");
    url.searchParams.set("error", "invalid_request");
    return;
  }
  // EHR launch: the launch value names the patient; standalone (launch/patient): the "picker" chooses.
  const patient = q.launch ? String(q.launch).replace(/^patient-/, "") : control.patient;
  codes.set(url.searchParams.get("code"), { scope: String(q.scope || ""), patient });
});

function clientOk(req) {
  if (control.clientSecret) {
    const header = req.headers.authorization || "";
    const expected = "Basic " + Buffer.from(`bmefhir:${control.clientSecret}`).toString("base64");
    return header === expected;
  }
  if (control.clientJwk) {
    const assertion = req.body.client_assertion;
    if (req.body.client_assertion_type !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || !assertion) return false;
    const [h, p, s] = assertion.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url"));
    const claims = JSON.parse(Buffer.from(p, "base64url"));
    const key = crypto.createPublicKey({ key: control.clientJwk, format: "jwk" });
    const alg = { ES384: "sha384", RS384: "sha384" }[header.alg];
    const ok = alg && crypto.verify(alg, Buffer.from(`${h}.${p}`), header.alg === "ES384" ? { key, dsaEncoding: "ieee-p1363" } : key, Buffer.from(s, "base64url"));
    return Boolean(ok) && claims.iss === "bmefhir" && claims.sub === "bmefhir" && claims.aud === `${origin}/token`
      && claims.exp > Date.now() / 1000;
  }
  return true;
}

let issued = 0;
svc.on("beforeTokenSigning", (token, req) => {
  const now = Math.floor(Date.now() / 1000);
  token.payload.exp = now + control.expiresIn;
  // Unique even within one second: a refreshed token must differ from the one it replaces.
  token.payload.jti = `t${++issued}`;
  if (!("scope" in token.payload)) {  // the id_token (access tokens carry a scope claim)
    const p = token.payload;
    p.aud = p.aud || "bmefhir";  // private_key_jwt requests carry no client_id
    p.fhirUser = `${iss}/${control.fhirUser}`;
    p.name = "Dr Test Clinician";
    if (req.body.grant_type === "refresh_token") {
      if (control.refreshIdToken === "noaud") delete p.aud;  // smart-launcher-v2 does this
      if (control.refreshIdToken === "otherClient") p.aud = "another-app";
      if (control.refreshIdToken === "otherSub") p.sub = "someone-else";
    } else {
      if (control.idTokenQuirk === "nonce") p.nonce = "not-the-nonce-sent";
      if (control.idTokenQuirk === "expired") { p.exp = now - 3600; p.iat = now - 7200; }
      if (control.idTokenQuirk === "aud") p.aud = "another-app";
      if (control.idTokenQuirk === "iss") p.iss = "https://other-issuer.example";
    }
  }
});

function spoilSignature(jwt) {
  const [h, p, s] = jwt.split(".");
  const sig = Buffer.from(s, "base64url");
  sig[0] ^= 0xff;
  return `${h}.${p}.${sig.toString("base64url")}`;
}

svc.on("beforeResponse", (response, req) => {
  const body = req.body;
  if (!clientOk(req)) {
    response.statusCode = 401;
    response.body = { error: "invalid_client" };
    return;
  }
  let ctx;
  if (body.grant_type === "authorization_code") {
    counters.token++;
    ctx = codes.get(body.code);
    codes.delete(body.code);
    if (!ctx) { response.statusCode = 400; response.body = { error: "invalid_grant" }; return; }
    ctx = { scope: grantedScope(ctx.scope), patient: ctx.patient };
  } else if (body.grant_type === "refresh_token") {
    counters.refresh++;
    ctx = refreshes.get(body.refresh_token);
    if (!ctx || control.refreshError === "invalid_grant") {
      response.statusCode = 400; response.body = { error: "invalid_grant" }; return;
    }
    if (control.refreshError === "server_error") { response.statusCode = 500; response.body = { error: "server_error" }; return; }
    if (control.refreshError === "garbage") { response.statusCode = 200; response.body = { hello: "world" }; return; }
  } else {
    return;
  }
  const r = response.body;
  r.scope = ctx.scope;
  r.expires_in = control.expiresIn;
  if (ctx.patient) r.patient = ctx.patient;
  r.need_patient_banner = false;
  if (!ctx.scope.split(" ").includes("openid")) delete r.id_token;
  if (body.grant_type === "refresh_token") {
    if (control.refreshIdToken === "absent") delete r.id_token;
    if (control.refreshIdToken === "badsig" && r.id_token) r.id_token = spoilSignature(r.id_token);
    if (!control.refreshRotate) delete r.refresh_token;  // the old one stays valid
  } else if (control.idTokenQuirk === "badsig" && r.id_token) {
    r.id_token = spoilSignature(r.id_token);
  }
  tokens.set(r.access_token, { scope: ctx.scope, exp: Date.now() + control.expiresIn * 1000, patient: ctx.patient });
  if (r.refresh_token) refreshes.set(r.refresh_token, ctx);
});

function allowed(scope, method, type) {
  if (!type) return method === "POST";  // transaction/batch: HAPI applies entries; checked per type below
  const need = method === "GET" ? ["rs", "read"] : method === "POST" ? ["c", "write"] : ["cu", "write"];
  return scope.split(" ").some((s) => {
    const m = /^(patient|user)\/([A-Za-z*]+)\.([a-z*]+)/.exec(s);
    if (!m || (m[2] !== type && m[2] !== "*")) return false;
    return m[3] === "*" || need.includes(m[3]) || [...need[0]].every((c) => m[3].includes(c));
  });
}

function entryAllowed(scope, e) {
  const method = (e.request && e.request.method) || "GET";
  const type = ((e.request && e.request.url) || "").split(/[/?]/)[0];
  return allowed(scope, ["GET", "POST"].includes(method) ? method : "PUT", type);
}

const FORBIDDEN_ENTRY = { response: { status: "403 Forbidden", outcome: { resourceType: "OperationOutcome",
  issue: [{ severity: "error", code: "forbidden", diagnostics: "scope not granted" }] } } };

async function proxy(req, res, rest) {
  counters.fhir++;
  const auth = (req.headers.authorization || "").replace(/^Bearer /, "");
  const info = tokens.get(auth);
  if (!info || info.exp <= Date.now()) {
    counters.fhir401++;
    res.writeHead(401, { "content-type": "application/fhir+json", "www-authenticate": "Bearer" });
    res.end(JSON.stringify({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "login" }] }));
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString();
  const type = rest.split(/[/?]/)[0];
  let body = raw;
  let denied = [];  // batch entry positions refused for scope, answered 403 like an EHR would
  if (req.method === "POST" && !type) {
    const bundle = JSON.parse(raw || "{}");
    const entries = bundle.entry || [];
    if (control.leakPatient) {  // a lax EHR: patient searches answer for another patient too
      for (const e of entries) {
        if (e.request && e.request.method === "GET") e.request.url = e.request.url.replace(/([?&]patient=)([^&]+)/, `$1$2,${control.leakPatient}`);
      }
    }
    const refused = (e) => control.refuseTypes.includes(((e.request && e.request.url) || "").split(/[/?]/)[0]);
    denied = entries.map((e, i) => (entryAllowed(info.scope, e) && !refused(e) ? -1 : i)).filter((i) => i >= 0);
    if (denied.length && bundle.type === "transaction") {  // all or nothing
      counters.fhir403++;
      res.writeHead(403, { "content-type": "application/fhir+json" });
      res.end(JSON.stringify({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "forbidden" }] }));
      return;
    }
    if (denied.length) {
      counters.fhir403 += denied.length;
      bundle.entry = entries.filter((_, i) => !denied.includes(i));
    }
    body = JSON.stringify(bundle);
  } else if (!allowed(info.scope, req.method, type)) {
    counters.fhir403++;
    res.writeHead(403, { "content-type": "application/fhir+json" });
    res.end(JSON.stringify({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "forbidden" }] }));
    return;
  }
  const headers = {};
  for (const h of ["accept", "content-type", "if-match", "prefer", "x-meta-snapshot-mode"]) if (req.headers[h]) headers[h] = req.headers[h];
  const upstream = await fetch(`${hapiBase}/${rest}`, { method: req.method, headers, body: body || undefined });
  let text = await upstream.text();
  if (denied.length && upstream.ok) {
    const answer = JSON.parse(text);
    const kept = answer.entry || [];
    const all = [];
    for (let i = 0, k = 0; i < kept.length + denied.length; i++) all.push(denied.includes(i) ? FORBIDDEN_ENTRY : kept[k++]);
    answer.entry = all;
    text = JSON.stringify(answer);
  }
  text = text.split(hapiBase).join(iss);  // next links and locations point back through the gateway
  const out = { "content-type": upstream.headers.get("content-type") || "application/fhir+json" };
  for (const h of ["etag", "location", "content-location"]) {
    const v = upstream.headers.get(h);
    if (v) out[h] = v.split(hapiBase).join(iss);
  }
  res.writeHead(upstream.status, out);
  res.end(text);
}

const smartConfig = {
  issuer: origin,
  authorization_endpoint: `${origin}/authorize`,
  token_endpoint: `${origin}/token`,
  jwks_uri: `${origin}/jwks`,  // also in the issuer's OpenID discovery document (oauth2-mock-server)
  grant_types_supported: ["authorization_code", "refresh_token"],
  token_endpoint_auth_methods_supported: ["none", "client_secret_basic", "private_key_jwt"],
  scopes_supported: ["openid", "fhirUser", "launch", "launch/patient", "online_access", "patient/*.rs", "patient/*.cu"],
  response_types_supported: ["code"],
  code_challenge_methods_supported: ["S256"],
  capabilities: ["launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                 "client-confidential-asymmetric", "context-ehr-patient", "context-standalone-patient",
                 "permission-v1", "permission-v2", "permission-patient", "sso-openid-connect"],
};

const httpServer = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, origin);
    if (url.pathname === "/__control") {
      if (req.method === "POST") {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const knobs = JSON.parse(Buffer.concat(chunks).toString() || "{}");
        if (knobs.reset) Object.assign(control, DEFAULTS);
        delete knobs.reset;
        Object.assign(control, knobs);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ control, counters }));
      return;
    }
    if (url.pathname === "/fhir/.well-known/smart-configuration") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(smartConfig));
      return;
    }
    if (url.pathname.startsWith("/fhir/") || url.pathname === "/fhir") {
      await proxy(req, res, req.url.replace(/^\/fhir\/?/, ""));
      return;
    }
    svc.requestHandler(req, res);
  } catch (err) {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(err && err.message));
  }
});
httpServer.listen(port, "127.0.0.1", () => console.log(`mock EHR ready on ${origin}`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => httpServer.close(() => process.exit(0)));
