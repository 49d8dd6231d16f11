// The small programs of the e2e cluster, run from the hopguard image (they import its jose):
//   node app.mjs issuer          ES256 JWKS at /jwks; GET /token?aud=..&sub=.. -> {"token","kid"}; POST /rotate
//   node app.mjs echo            answers 200 with the request headers it received, as JSON
//   node app.mjs call URL [TOKEN] [METHOD]   one request through the pod's sidecar; prints "<status> <body>"
//   node app.mjs idle            keeps the client pod running
// Test-only: the issuer signs whatever audience it is asked for.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const [mode, ...args] = process.argv.slice(2);
const PORT = 8080;

async function issuer() {
  const iss = process.env.ISSUER;
  if (!iss) throw new Error('ISSUER is required');
  const published = []; // newest first; the previous key stays published after a rotation
  let active;
  const rotate = async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const kid = randomUUID().slice(0, 8);
    published.unshift({ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' });
    published.splice(2);
    active = { privateKey, kid };
    return kid;
  };
  await rotate();
  createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    const json = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/jwks') return json(200, { keys: published }, { 'cache-control': 'max-age=300' });
    if (req.method === 'POST' && url.pathname === '/rotate') return json(200, { kid: await rotate() });
    if (req.method === 'GET' && url.pathname === '/token') {
      const token = await new SignJWT({ scope: 'e2e' })
        .setProtectedHeader({ alg: 'ES256', kid: active.kid, typ: 'JWT' })
        .setIssuer(iss)
        .setSubject(url.searchParams.get('sub') ?? 'e2e')
        .setAudience(url.searchParams.get('aud') ?? '')
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(active.privateKey);
      return json(200, { token, kid: active.kid });
    }
    json(404, { error: 'not_found' });
  }).listen(PORT);
}

function echo() {
  createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, headers: req.headers }));
  }).listen(PORT);
}

async function call(url, token, method = 'GET') {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const response = await fetch(url, { method, headers, signal: AbortSignal.timeout(10_000) });
  console.log(`${response.status} ${(await response.text()).replace(/\s+/g, ' ')}`);
}

switch (mode) {
  case 'issuer': await issuer(); break;
  case 'echo': echo(); break;
  case 'call': await call(args[0], args[1], args[2]); break;
  case 'idle': setInterval(() => {}, 1 << 30); break;
  default: console.error(`unknown mode ${mode}`); process.exit(2);
}
