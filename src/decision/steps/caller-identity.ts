/** Who is calling: the mTLS peer, or a trusted x-forwarded-client-cert's subject. */
import type { WorkloadConfig } from '../../config/types.js';
import { callerFromXfcc, certificateThumbprint } from '../../identity/index.js';
import type { CheckInput } from '../types.js';

export interface Caller {
  readonly principal: string;
  /** Computed only for certificate-bound tokens: hashing the caller's certificate costs tens of µs. */
  certificateThumbprint(): string | null;
}

const NOBODY: Caller = { principal: '', certificateThumbprint: () => null };

class PeerCaller implements Caller {
  constructor(
    readonly principal: string,
    private readonly certificate: string,
  ) {}

  certificateThumbprint(): string | null {
    return this.certificate === '' ? null : certificateThumbprint(this.certificate);
  }
}

export function callerOf(input: CheckInput, workload: WorkloadConfig): Caller {
  if (workload.trustForwardedClientCert) {
    const xfcc = input.headers.get('x-forwarded-client-cert');
    if (xfcc !== undefined && xfcc.length > 0) {
      const forwarded = callerFromXfcc(xfcc.join(','));
      // A trusted but unreadable XFCC names nobody: fail closed rather than fall back to the peer.
      if (!forwarded.ok) return NOBODY;
      const { uri, certificateThumbprint: thumbprint } = forwarded.caller;
      return { principal: uri ?? '', certificateThumbprint: () => thumbprint };
    }
  }
  return new PeerCaller(input.sourcePrincipal, input.sourceCertificate);
}
