/**
 * The embedded demo default: `hopguard serve` with no config. An ephemeral ES256 key, its JWKS on
 * loopback, one demo workload, and ready-to-run `hopguard check` commands (one allowed, one denied).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { loadConfigObject } from '../config/load.js';
import type { HopguardConfig } from '../config/types.js';

export const DEMO_WORKLOAD = 'spiffe://demo.local/ns/default/sa/api';
export const DEMO_OTHER_WORKLOAD = 'spiffe://demo.local/ns/default/sa/billing';
export const DEMO_CALLER = 'spiffe://demo.local/ns/default/sa/frontend';
/** A workload that requires DPoP: its tokens are bound to the client's key (cnf.jkt). */
export const DEMO_DPOP_WORKLOAD = 'spiffe://demo.local/ns/default/sa/payments';
export const DEMO_DPOP_HOST = 'payments.demo.local';
const DEMO_KID = 'demo-es256';
const TOKEN_LIFETIME_S = 24 * 3600;

export interface Demo {
  readonly config: HopguardConfig;
  readonly issuer: string;
  /** A token for the demo workload. */
  readonly token: string;
  /** A token minted for another workload: presented at the demo workload it is an audience_mismatch. */
  readonly otherAudienceToken: string;
  /** A token for the DPoP workload, bound to the key in `dpopKeyFile`. */
  readonly dpopToken: string;
  /** The client's private JWK (a throw-away file, removed on close). */
  readonly dpopKeyFile: string;
  close(): Promise<void>;
}

export interface DemoOptions {
  readonly grpc?: string;
  readonly admin?: string;
}

async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  return (server.address() as AddressInfo).port;
}

export async function createDemo(options: DemoOptions = {}): Promise<Demo> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: DEMO_KID, alg: 'ES256', use: 'sig' };
  const jwksBody = JSON.stringify({ keys: [jwk] });
  const jwksServer = createServer((request, response) => {
    if (request.url === '/keys') {
      response.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=300' });
      response.end(jwksBody);
    } else {
      response.writeHead(404).end();
    }
  });
  const port = await listenOnLoopback(jwksServer);
  const issuer = `http://127.0.0.1:${port}`;

  const loaded = loadConfigObject({
    // Loopback only: the demo key and tokens are for trying hopguard out, not for serving a network.
    listen: {
      grpc: options.grpc ?? process.env.HOPGUARD_DEMO_GRPC ?? '127.0.0.1:9191',
      admin: options.admin ?? process.env.HOPGUARD_DEMO_ADMIN ?? '127.0.0.1:9464',
    },
    issuers: [{ issuer, jwksUri: `${issuer}/keys`, algorithms: ['ES256'] }],
    workloads: [
      { id: DEMO_WORKLOAD, forward: { claimsToHeaders: { scope: 'x-hopguard-scope' } } },
      { id: DEMO_DPOP_WORKLOAD, dpop: { mode: 'required', origins: [`https://${DEMO_DPOP_HOST}`] } },
    ],
  });
  if (!loaded.ok) throw new Error(`demo config is invalid: ${loaded.errors.join('; ')}`);

  // The DPoP client's key: its private JWK in a throw-away file, its thumbprint in the token's cnf.jkt.
  const client = await generateKeyPair('ES256', { extractable: true });
  const clientJwk = await exportJWK(client.privateKey);
  const keyDirectory = mkdtempSync(join(tmpdir(), 'hopguard-demo-'));
  const dpopKeyFile = join(keyDirectory, 'dpop-client.jwk');
  writeFileSync(dpopKeyFile, `${JSON.stringify({ ...clientJwk, alg: 'ES256' })}\n`, { mode: 0o600 });
  const jkt = await calculateJwkThumbprint(await exportJWK(client.publicKey));

  const mint = (audience: string, extra: Record<string, unknown> = {}) =>
    new SignJWT({ scope: 'orders:read', ...extra })
      .setProtectedHeader({ alg: 'ES256', kid: DEMO_KID, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(DEMO_CALLER)
      .setAudience(audience)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${TOKEN_LIFETIME_S}s`)
      .sign(privateKey);

  return {
    config: loaded.config,
    issuer,
    token: await mint(DEMO_WORKLOAD),
    otherAudienceToken: await mint(DEMO_OTHER_WORKLOAD),
    dpopToken: await mint(DEMO_DPOP_WORKLOAD, { cnf: { jkt } }),
    dpopKeyFile,
    close: () =>
      new Promise<void>((done) => {
        rmSync(keyDirectory, { recursive: true, force: true });
        jwksServer.close(() => done());
      }),
  };
}

/** The banner `npm start` prints: what runs where, and two commands to try it. */
export function demoBanner(demo: Demo, cliPath: string, grpcAddress: string): string {
  const cli = relative(process.cwd(), resolve(cliPath)) || cliPath;
  const server = grpcAddress;
  const check = (token: string) =>
    `node ${cli} check --server ${server} --token ${token} --workload ${DEMO_WORKLOAD} --source ${DEMO_CALLER}`;
  const url = `https://${DEMO_DPOP_HOST}/orders`;
  const proof = `node ${cli} dpop-proof --key ${demo.dpopKeyFile} --method GET --url ${url} --token ${demo.dpopToken}`;
  const dpopCheck = (withProof: boolean) =>
    `node ${cli} check --server ${server} --token ${demo.dpopToken} --workload ${DEMO_DPOP_WORKLOAD} --source ${DEMO_CALLER} --host ${DEMO_DPOP_HOST} --path /orders${withProof ? ` --dpop "$(${proof})"` : ''}`;
  return [
    '',
    'hopguard demo is running (no config given; pass --config FILE or set HOPGUARD_CONFIG for real use)',
    `  gRPC ext_authz:  ${server}   (envoy.service.auth.v3.Authorization/Check)`,
    `  issuer / JWKS:   ${demo.issuer}/keys   (ephemeral ES256 key, kid ${DEMO_KID})`,
    `  workload:        ${DEMO_WORKLOAD}`,
    '',
    'A token for the demo workload:',
    `  ${demo.token}`,
    '',
    'Try it (allowed):',
    `  ${check(demo.token)}`,
    '',
    'And a denial (a token minted for another workload, audience_mismatch):',
    `  ${check(demo.otherAudienceToken)}`,
    '',
    `DPoP (RFC 9449): ${DEMO_DPOP_WORKLOAD} requires a fresh proof, signed by the key the token is bound to, for each request:`,
    `  ${dpopCheck(true)}`,
    '',
    'And the same token sent as Bearer (dpop_required):',
    `  ${dpopCheck(false)}`,
    '',
  ].join('\n');
}
