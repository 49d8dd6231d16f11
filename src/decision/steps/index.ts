/**
 * The decision, as an ordered list of steps (ARCHITECTURE.md). Each step passes, adding what it
 * learned to the check's state, or stops the check; replay runs last so that nothing invalid
 * burns a jti. A new check is a new step module and one line here.
 */
import { audienceStep } from './audience.js';
import { callerStep } from './caller.js';
import { claimsStep } from './claims.js';
import { dpopStep } from './dpop.js';
import { headerStep } from './header.js';
import { issuerStep } from './issuer.js';
import { lifetimeStep } from './lifetime.js';
import { operationStep } from './operation.js';
import { proofReplayStep } from './proof-replay.js';
import { replayStep } from './replay.js';
import { signatureStep } from './signature.js';
import type { Step } from './state.js';
import { tokenStep } from './token.js';
import { workloadStep } from './workload.js';

export const STEPS: readonly Step[] = [
  workloadStep,
  operationStep,
  tokenStep,
  issuerStep,
  headerStep,
  signatureStep,
  lifetimeStep,
  audienceStep,
  callerStep,
  dpopStep,
  claimsStep,
  proofReplayStep,
  replayStep,
];
