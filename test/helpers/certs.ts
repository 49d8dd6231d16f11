/**
 * Real X.509 certificates made at test time with the `openssl` CLI (node:crypto can parse but not
 * issue certificates). Keys come from node:crypto; nothing is written outside a private temp dir,
 * which is removed before each function returns. Synchronous and fast (one or two openssl runs).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  /** PEM of the certificate, with a trailing newline (as OpenSSL and Envoy write it). */
  readonly pem: string;
  readonly der: Buffer;
  /** The PEM URL-encoded the way Envoy sends it in `source.certificate` and XFCC `Cert`. */
  readonly urlEncodedPem: string;
  /** base64url(SHA-256(DER)): the RFC 8705 `cnf["x5t#S256"]` value. */
  readonly thumbprint: string;
  /** Lower-case hex SHA-256 of the DER: what Envoy writes as XFCC `Hash`. */
  readonly sha256Hex: string;
  /** PKCS#8 PEM of the private key. */
  readonly keyPem: string;
  readonly x509: X509Certificate;
}

export interface CertificateOptions {
  /** URI SANs, e.g. a SPIFFE ID; Istio workload certificates carry exactly one. */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** Defaults to `hopguard test`. Avoid `/` and `,` (openssl -subj syntax). */
  readonly commonName?: string;
  readonly organization?: string;
  /** Sign with this CA instead of self-signing. */
  readonly issuer?: TestCertificate;
  readonly keyType?: 'ec' | 'rsa';
  /** Make a CA certificate (basicConstraints CA:TRUE) instead of a leaf. */
  readonly ca?: boolean;
}

let opensslChecked = false;

/** True when an `openssl` binary is on PATH. */
export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function requireOpenssl(): void {
  if (opensslChecked) return;
  if (!opensslAvailable()) throw new Error('test/helpers/certs.ts needs the openssl CLI on PATH');
  opensslChecked = true;
}

/** URL-encodes a PEM as Envoy does (every byte outside [A-Za-z0-9-_.~] percent-encoded, newline as %0A). */
export function urlEncodePem(pem: string): string {
  return encodeURIComponent(pem);
}

/** Issues a certificate (self-signed unless `issuer` is given) valid from now for one day. */
export function createCertificate(options: CertificateOptions = {}): TestCertificate {
  requireOpenssl();
  const dir = mkdtempSync(join(tmpdir(), 'hopguard-cert-'));
  try {
    const keyPem = newPrivateKeyPem(options.keyType ?? 'ec');
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    const configFile = join(dir, 'openssl.cnf');
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    const subject = `/CN=${options.commonName ?? 'hopguard test'}${options.organization ? `/O=${options.organization}` : ''}`;
    // Our own config, so the host's openssl.cnf defaults cannot add extensions; [ext] holds ours.
    writeFileSync(configFile, ['[req]', 'distinguished_name=dn', '[dn]', ...extensionLines(options)].join('\n') + '\n');
    const serial = `0x${randomBytes(12).toString('hex')}`;

    if (options.issuer === undefined) {
      run(['req', '-x509', '-new', '-key', keyFile, '-subj', subject, '-days', '1', '-sha256', '-set_serial', serial,
        '-config', configFile, '-extensions', 'ext', '-out', certFile]);
    } else {
      const csrFile = join(dir, 'req.csr');
      const caCert = join(dir, 'ca.pem');
      const caKey = join(dir, 'ca.key');
      writeFileSync(caCert, options.issuer.pem);
      writeFileSync(caKey, options.issuer.keyPem, { mode: 0o600 });
      run(['req', '-new', '-key', keyFile, '-subj', subject, '-config', configFile, '-out', csrFile]);
      run(['x509', '-req', '-in', csrFile, '-CA', caCert, '-CAkey', caKey, '-set_serial', serial, '-days', '1',
        '-sha256', '-extfile', configFile, '-extensions', 'ext', '-out', certFile]);
    }
    return fromPem(readFileSync(certFile, 'utf8'), keyPem);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A CA certificate (basicConstraints CA:TRUE) to pass as `issuer`. */
export function createCertificateAuthority(commonName = 'hopguard test CA'): TestCertificate {
  return createCertificate({ commonName, organization: 'hopguard', ca: true });
}

/** A workload certificate shaped like Istio's: one SPIFFE URI SAN, signed by `issuer` when given. */
export function createWorkloadCertificate(spiffeId: string, issuer?: TestCertificate): TestCertificate {
  return createCertificate({ uris: [spiffeId], commonName: 'workload', ...(issuer ? { issuer } : {}) });
}

/** Builds the TestCertificate view of a PEM certificate and its key. */
export function fromPem(pem: string, keyPem = ''): TestCertificate {
  const x509 = new X509Certificate(pem);
  const der = Buffer.from(x509.raw);
  return {
    pem,
    der,
    urlEncodedPem: urlEncodePem(pem),
    thumbprint: createHash('sha256').update(der).digest('base64url'),
    sha256Hex: createHash('sha256').update(der).digest('hex'),
    keyPem,
    x509,
  };
}

function newPrivateKeyPem(keyType: 'ec' | 'rsa'): string {
  const { privateKey } =
    keyType === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function extensionLines(options: CertificateOptions): string[] {
  const sans = [...(options.uris ?? []).map((uri) => `URI:${uri}`), ...(options.dnsNames ?? []).map((dns) => `DNS:${dns}`)];
  const lines = ['[ext]'];
  if (options.ca === true) {
    lines.push('basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign');
  } else {
    lines.push('basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth');
  }
  if (sans.length > 0) lines.push(`subjectAltName=${sans.join(',')}`);
  return lines;
}

function run(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: 'pipe' });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim()}`);
  }
}
