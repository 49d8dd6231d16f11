/**
 * `hopguard dpop-proof`: makes a DPoP proof (RFC 9449 §4.2) for trying a DPoP workload by hand,
 *
 *   hopguard dpop-proof --new-key client.jwk                     # writes an ES256 private JWK, prints its jkt
 *   hopguard dpop-proof --key client.jwk --jkt                   # prints the key's thumbprint (cnf.jkt)
 *   hopguard dpop-proof --key client.jwk --method GET --url https://api.example.com/orders/7 \
 *       [--token ACCESS_TOKEN] [--nonce NONCE] [--alg ES256]     # prints a proof
 *
 * The proof is the only thing on stdout, so `-H "dpop: $(hopguard dpop-proof ...)"` works. Signing
 * is jose's (SignJWT); a fresh jti and iat each time.
 */
import { createPrivateKey, createPublicKey, createHash, randomUUID, type JsonWebKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

export const DPOP_PROOF_USAGE = `usage:
  hopguard dpop-proof --new-key FILE        write a new ES256 private JWK to FILE (mode 0600); print its thumbprint (cnf.jkt)
  hopguard dpop-proof --key FILE --jkt      print the thumbprint (cnf.jkt) of the key in FILE
  hopguard dpop-proof --key FILE --url URL [--method GET] [--token T] [--nonce N] [--alg ALG]
                                            print a DPoP proof for one request (htu = URL without query or fragment)`;

export class DpopProofUsageError extends Error {
  override readonly name = 'DpopProofUsageError';
}

export interface ProofRequest {
  /** The private JWK (JSON) the proof is signed with; its public part goes in the header. */
  readonly privateJwk: JWK;
  readonly method: string;
  readonly url: string;
  readonly accessToken?: string | undefined;
  readonly nonce?: string | undefined;
  /** Default: the JWK's alg, else ES256/ES384/ES512/EdDSA by curve, RS256 for RSA. */
  readonly alg?: string | undefined;
  readonly nowMs?: number;
  readonly jti?: string;
}

/** The alg a key signs with when none is named. */
export function defaultAlgFor(jwk: JWK): string {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'EC') return ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[jwk.crv ?? ''] ?? 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  if (jwk.kty === 'RSA') return 'RS256';
  throw new DpopProofUsageError(`key type ${String(jwk.kty)} cannot sign a DPoP proof`);
}

/** The public members of a private JWK, as the proof's `jwk` header carries them. */
export function publicJwkOf(privateJwk: JWK): JWK {
  try {
    const publicKey = createPublicKey(createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' }));
    return publicKey.export({ format: 'jwk' }) as JWK;
  } catch (error) {
    throw new DpopProofUsageError(`not a usable private JWK: ${(error as Error).message}`);
  }
}

/** htu: the URL without query and fragment (RFC 9449 §4.2). */
export function htuOf(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DpopProofUsageError(`--url ${url}: not an absolute URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new DpopProofUsageError(`--url ${url}: must be http(s)`);
  return `${parsed.origin}${parsed.pathname}`;
}

export async function makeDpopProof(request: ProofRequest): Promise<string> {
  const { privateJwk } = request;
  if (typeof privateJwk.d !== 'string') throw new DpopProofUsageError('the key file must hold a private JWK (with d)');
  const alg = request.alg ?? defaultAlgFor(privateJwk);
  let key;
  try {
    key = await importJWK(privateJwk, alg);
  } catch (error) {
    throw new DpopProofUsageError(`the key cannot sign with ${alg}: ${(error as Error).message}`);
  }
  const claims: Record<string, unknown> = {
    jti: request.jti ?? randomUUID(),
    htm: request.method,
    htu: htuOf(request.url),
    iat: Math.floor((request.nowMs ?? Date.now()) / 1000),
  };
  if (request.accessToken !== undefined) claims.ath = createHash('sha256').update(request.accessToken, 'ascii').digest('base64url');
  if (request.nonce !== undefined) claims.nonce = request.nonce;
  return new SignJWT(claims).setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: publicJwkOf(privateJwk) }).sign(key);
}

/** A new ES256 key pair: the private JWK to keep, and the thumbprint an issuer puts in cnf.jkt. */
export async function newProofKey(): Promise<{ readonly privateJwk: JWK; readonly jkt: string }> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES256' };
  return { privateJwk, jkt: await calculateJwkThumbprint(publicJwkOf(privateJwk)) };
}

async function readPrivateJwk(path: string): Promise<JWK> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new DpopProofUsageError(`--key ${path}: ${(error as NodeJS.ErrnoException).code ?? 'cannot read'}`);
  }
  try {
    const jwk: unknown = JSON.parse(text);
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new Error('not an object');
    return jwk as JWK;
  } catch {
    throw new DpopProofUsageError(`--key ${path}: not a JSON Web Key`);
  }
}

export interface Output {
  write(text: string): unknown;
}

/** Runs `hopguard dpop-proof` with the arguments after the command name; the exit code. */
export async function runDpopProofCommand(
  argv: readonly string[],
  io: { readonly stdout: Output; readonly stderr: Output } = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        key: { type: 'string' },
        'new-key': { type: 'string' },
        jkt: { type: 'boolean' },
        method: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        nonce: { type: 'string' },
        alg: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout.write(`${DPOP_PROOF_USAGE}\n`);
      return 0;
    }
    if (values['new-key'] !== undefined) {
      const path = values['new-key'];
      const { privateJwk, jkt } = await newProofKey();
      try {
        await writeFile(path, `${JSON.stringify(privateJwk)}\n`, { mode: 0o600, flag: 'wx' });
      } catch (error) {
        throw new DpopProofUsageError(`--new-key ${path}: ${(error as NodeJS.ErrnoException).code === 'EEXIST' ? 'exists already' : 'cannot write'}`);
      }
      io.stdout.write(`${jkt}\n`);
      return 0;
    }
    if (values.key === undefined) throw new DpopProofUsageError('--key FILE (or --new-key FILE) is required');
    const privateJwk = await readPrivateJwk(values.key);
    if (values.jkt) {
      io.stdout.write(`${await calculateJwkThumbprint(publicJwkOf(privateJwk))}\n`);
      return 0;
    }
    if (values.url === undefined) throw new DpopProofUsageError('--url URL is required');
    const proof = await makeDpopProof({
      privateJwk,
      method: values.method ?? 'GET',
      url: values.url,
      accessToken: values.token,
      nonce: values.nonce,
      alg: values.alg,
    });
    io.stdout.write(`${proof}\n`);
    return 0;
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    io.stderr.write(`hopguard dpop-proof: ${message}\n${DPOP_PROOF_USAGE}\n`);
    return 2;
  }
}
