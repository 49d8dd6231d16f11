/**
 * Turns an untrusted JWK Set document into a table of imported public keys, each bound to one
 * algorithm. Keys that are not fit for signature verification by this issuer are skipped with a
 * note; a document without a single usable key is refused as a whole.
 */
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import type { IssuerConfig, JwsAlgorithm } from '../../config/types.js';
import type { VerificationKey } from '../keyset-types.js';
import { MAX_KEYS_PER_SET, MAX_KID_LENGTH, MIN_RSA_BITS } from './defaults.js';
import { hasRocaFingerprint, weakRsaExponent } from './rsa-checks.js';

export interface TableEntry {
  readonly kid: string | null;
  readonly alg: JwsAlgorithm;
  readonly key: VerificationKey;
  readonly keyId: string;
}

export interface KeyTable {
  readonly entries: readonly TableEntry[];
  /** `kid NUL alg` -> entry, for tokens that name a kid. */
  readonly byKidAlg: ReadonlyMap<string, TableEntry>;
  /** alg -> every entry usable for it, for tokens without kid. */
  readonly byAlg: ReadonlyMap<string, readonly TableEntry[]>;
  /** keyIds of every accepted JWK: what disappears from here is reported as removed. */
  readonly keyIds: ReadonlySet<string>;
  /** The number of distinct JWKs accepted. */
  readonly keyCount: number;
}

export type KeyTableResult =
  | { readonly ok: true; readonly table: KeyTable; readonly notes: readonly string[] }
  | { readonly ok: false; readonly detail: string };

const RSA_ALGS: readonly JwsAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALG_BY_CURVE: Readonly<Record<string, JwsAlgorithm>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
const OKP_ALGS_BY_CURVE: Readonly<Record<string, readonly JwsAlgorithm[]>> = { Ed25519: ['EdDSA', 'Ed25519'] };
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] };
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The algorithms a token's header may name to be verified with `jwk`, by kty/crv and `alg`. */
function algorithmsFor(jwk: Record<string, unknown>): readonly JwsAlgorithm[] {
  const curve = String(jwk.crv);
  // Own members only: a crv of "constructor" or "__proto__" must find nothing, not Object's own.
  const fitting =
    jwk.kty === 'RSA'
      ? RSA_ALGS
      : jwk.kty === 'EC'
        ? Object.hasOwn(EC_ALG_BY_CURVE, curve) ? [EC_ALG_BY_CURVE[curve] as JwsAlgorithm] : []
        : jwk.kty === 'OKP'
          ? Object.hasOwn(OKP_ALGS_BY_CURVE, curve) ? (OKP_ALGS_BY_CURVE[curve] as readonly JwsAlgorithm[]) : []
          : [];
  // A JWK that names its algorithm is bound to it (RFC 8725 §3.1).
  if (jwk.alg !== undefined) return fitting.filter((alg) => alg === jwk.alg);
  return fitting;
}

function rsaModulusBits(n: string): number {
  const bytes = Buffer.from(n, 'base64url');
  let first = 0;
  while (first < bytes.length && bytes[first] === 0) first++;
  if (first === bytes.length) return 0;
  return (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first] ?? 0));
}

/** Why `jwk` cannot be used, or null when its shape is acceptable. */
function refusal(jwk: Record<string, unknown>, issuer: IssuerConfig): string | null {
  if (typeof jwk.kty !== 'string') return 'no kty';
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) return 'private key members present';
  const members = Object.hasOwn(PUBLIC_MEMBERS, jwk.kty) ? PUBLIC_MEMBERS[jwk.kty] : undefined;
  if (!members) return `unsupported kty ${jwk.kty.slice(0, 16)}`;
  for (const member of members) {
    const value = jwk[member];
    if (typeof value !== 'string' || (member !== 'crv' && !BASE64URL.test(value))) return `bad ${member}`;
  }
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid.length === 0 || jwk.kid.length > MAX_KID_LENGTH)) {
    return 'bad kid';
  }
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') return 'bad alg';
  const use = jwk.use;
  if (use !== undefined && use !== 'sig' && !(issuer.spiffeBundle && use === 'jwt-svid')) return `use is not sig`;
  if (jwk.key_ops !== undefined) {
    const ops = jwk.key_ops;
    if (!Array.isArray(ops) || ops.some((op) => typeof op !== 'string') || new Set(ops).size !== ops.length) return 'bad key_ops';
    if (!ops.includes('verify')) return 'key_ops lacks verify';
  }
  if (jwk.kty === 'RSA') {
    if (rsaModulusBits(jwk.n as string) < MIN_RSA_BITS) return `RSA key under ${MIN_RSA_BITS} bits`;
    if (weakRsaExponent(jwk.e as string)) return 'RSA public exponent must be odd and at least 65537';
    if (hasRocaFingerprint(jwk.n as string)) return 'RSA modulus has the ROCA fingerprint (CVE-2017-15361)';
  }
  return null;
}

function publicPart(jwk: Record<string, unknown>): JWK {
  const members = Object.hasOwn(PUBLIC_MEMBERS, jwk.kty as string) ? (PUBLIC_MEMBERS[jwk.kty as string] as readonly string[]) : [];
  const result: Record<string, string> = { kty: jwk.kty as string };
  for (const member of members) result[member] = jwk[member] as string;
  return result as JWK;
}

function label(jwk: Record<string, unknown>, index: number): string {
  return typeof jwk.kid === 'string' ? `kid ${JSON.stringify(jwk.kid.slice(0, 64))}` : `key #${index}`;
}

/** `previous` lends its imported keys: an unchanged key is not imported again at each refresh. */
export async function buildKeyTable(document: unknown, issuer: IssuerConfig, previous: KeyTable | null = null): Promise<KeyTableResult> {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return { ok: false, detail: 'the JWK Set is not a JSON object' };
  }
  const keys = (document as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) return { ok: false, detail: 'the JWK Set has no "keys" array' };
  if (keys.length > MAX_KEYS_PER_SET) return { ok: false, detail: `the JWK Set has ${keys.length} keys (limit ${MAX_KEYS_PER_SET})` };

  const allowed = new Set<string>(issuer.algorithms);
  const imported = new Map<string, VerificationKey>();
  for (const entry of previous?.entries ?? []) imported.set(`${entry.keyId}\u0000${entry.alg}`, entry.key);
  const notes: string[] = [];
  const entries: TableEntry[] = [];
  const keyIds = new Set<string>();
  // Duplicate kids resolve deterministically: per (kid, alg) the first key in document order wins.
  const taken = new Set<string>();

  for (const [index, raw] of keys.entries()) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      notes.push(`key #${index}: not an object`);
      continue;
    }
    const jwk = raw as Record<string, unknown>;
    const why = refusal(jwk, issuer);
    if (why) {
      notes.push(`${label(jwk, index)}: ${why}`);
      continue;
    }
    const algs = algorithmsFor(jwk).filter((alg) => allowed.has(alg));
    if (algs.length === 0) {
      notes.push(`${label(jwk, index)}: fits none of the issuer's algorithms`);
      continue;
    }
    const kid = (jwk.kid as string | undefined) ?? null;
    const publicJwk = publicPart(jwk);
    let keyId: string;
    try {
      keyId = `${issuer.issuer}#${kid ?? ''}#${await calculateJwkThumbprint(publicJwk, 'sha256')}`;
    } catch {
      notes.push(`${label(jwk, index)}: not a valid public key`);
      continue;
    }
    let accepted = false;
    for (const alg of algs) {
      const slot = `${kid ?? ''}\u0000${alg}`;
      if (taken.has(slot)) {
        notes.push(`${label(jwk, index)}: duplicate for ${alg}, the earlier key wins`);
        continue;
      }
      try {
        const key = imported.get(`${keyId}\u0000${alg}`) ?? ((await importJWK(publicJwk, alg)) as VerificationKey);
        entries.push({ kid, alg, key, keyId });
        taken.add(slot);
        accepted = true;
      } catch {
        notes.push(`${label(jwk, index)}: does not import for ${alg}`);
      }
    }
    if (accepted) keyIds.add(keyId);
  }
  if (entries.length === 0) {
    return { ok: false, detail: `no usable key in the JWK Set${notes.length ? ` (${notes.slice(0, 5).join('; ')})` : ''}` };
  }
  const byKidAlg = new Map<string, TableEntry>();
  const byAlg = new Map<string, TableEntry[]>();
  for (const entry of entries) {
    if (entry.kid !== null) byKidAlg.set(`${entry.kid}\u0000${entry.alg}`, entry);
    byAlg.set(entry.alg, [...(byAlg.get(entry.alg) ?? []), entry]);
  }
  return { ok: true, table: { entries, byKidAlg, byAlg, keyIds, keyCount: keyIds.size }, notes };
}

/** The key for a token header: by kid, or the only key for alg when the token has no kid. */
export function findKey(table: KeyTable, alg: string, kid: string | undefined): TableEntry | undefined {
  if (kid === undefined) {
    const candidates = table.byAlg.get(alg);
    return candidates?.length === 1 ? candidates[0] : undefined;
  }
  return table.byKidAlg.get(`${kid}\u0000${alg}`);
}
