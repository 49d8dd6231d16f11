/** Who is calling: pure, non-throwing building blocks for the caller step of the decision pipeline. */
export {
  MAX_SPIFFE_ID_BYTES,
  MAX_TRUST_DOMAIN_LENGTH,
  buildAllowlist,
  isSpiffeId,
  isTrustDomain,
  matchesAllowlist,
  parseServiceAccountSubject,
  parseSpiffeId,
  subjectNamesCaller,
  trustDomainOf,
  type IdentityAllowlist,
  type ServiceAccountRef,
  type SpiffeId,
  type SpiffeIdResult,
} from './spiffe.js';
export {
  MAX_ENCODED_CERTIFICATE_LENGTH,
  bindingSatisfied,
  certificateThumbprint,
  firstCertificateDer,
  isCertificateShapedDer,
  sha256Thumbprint,
  type BindingOutcome,
} from './certificate.js';
export {
  MAX_XFCC_ELEMENTS,
  MAX_XFCC_LENGTH,
  MAX_XFCC_PAIRS_PER_ELEMENT,
  callerFromXfcc,
  formatXfcc,
  formatXfccElement,
  parseXfcc,
  type XfccCaller,
  type XfccCallerResult,
  type XfccElement,
  type XfccParseResult,
} from './xfcc.js';
export { checkProfile, profileTrustDomain, type ProfileFailure, type ProfileInput, type ProfileReason } from './profiles.js';
export {
  MAX_ACT_NESTING,
  MAX_ACTOR_SUB_LENGTH,
  actorChain,
  checkDelegation,
  type Actor,
  type ActorChainResult,
  type DelegationFailure,
  type DelegationPolicy,
} from './delegation.js';
