/**
 * RFC 8693 §4.1 delegation: `act` names the current actor; an `act` nested inside it names the actor
 * before, and so on, least recent deepest. Only the current actor may be used for access control;
 * prior actors are informational (for logs). `may_act` (§4.4) is for the token issuer and is ignored.
 */
import { matchesAllowlist, type IdentityAllowlist } from './spiffe.js';

/** Deepest `act` nesting read at all, whatever the policy (the config allows maxDelegationDepth <= 32). */
export const MAX_ACT_NESTING = 32;
/** Longest actor `sub` accepted; longer is refused as an abuse, not truncated. */
export const MAX_ACTOR_SUB_LENGTH = 2048;

export interface Actor {
  readonly sub: string;
  /** The actor's issuer when the act object names one. */
  readonly iss: string | null;
}

export type ActorChainResult =
  /** actors[0] is the current actor, the rest prior actors, most recent first; depth = actors.length. */
  | { readonly ok: true; readonly actors: readonly Actor[]; readonly depth: number }
  | { readonly ok: false; readonly error: string };

/**
 * Reads the `act` chain of a claim set; never throws, reads at most 32 levels. An absent act is an empty
 * chain (depth 0). Refuses an act that is not a JSON object, an actor without a non-empty string sub,
 * an iss that is not a string, and nesting deeper than 32.
 */
export function actorChain(claims: Readonly<Record<string, unknown>>): ActorChainResult {
  const actors: Actor[] = [];
  let act: unknown = claims.act;
  while (act !== undefined) {
    if (actors.length >= MAX_ACT_NESTING) return { ok: false, error: `act is nested deeper than ${MAX_ACT_NESTING}` };
    if (typeof act !== 'object' || act === null || Array.isArray(act)) {
      return { ok: false, error: `act at depth ${actors.length + 1} is not an object` };
    }
    const member = act as Record<string, unknown>;
    const { sub, iss } = member;
    if (typeof sub !== 'string' || sub.length === 0) {
      return { ok: false, error: `actor at depth ${actors.length + 1} has no sub` };
    }
    if (sub.length > MAX_ACTOR_SUB_LENGTH) return { ok: false, error: `actor at depth ${actors.length + 1} has an oversized sub` };
    if (iss !== undefined && typeof iss !== 'string') {
      return { ok: false, error: `actor at depth ${actors.length + 1} has a non-string iss` };
    }
    actors.push({ sub, iss: iss ?? null });
    act = member.act;
  }
  return { ok: true, actors, depth: actors.length };
}

export interface DelegationPolicy {
  /** Most act levels allowed (0 = no delegation at all); null = no limit but the hard cap. */
  readonly maxDelegationDepth: number | null;
  /** Who may be the current actor; null = anyone. */
  readonly allowedActors: IdentityAllowlist | null;
}

export interface DelegationFailure {
  readonly reason: 'delegation_not_allowed';
  readonly detail: string;
}

/**
 * Applies the workload's delegation policy; null when allowed. A malformed chain is always refused; a
 * token without act always passes; depth counts every act level; only the current actor is matched
 * against allowedActors. Never throws.
 */
export function checkDelegation(claims: Readonly<Record<string, unknown>>, policy: DelegationPolicy): DelegationFailure | null {
  const chain = actorChain(claims);
  if (!chain.ok) return { reason: 'delegation_not_allowed', detail: chain.error };
  const current = chain.actors[0];
  if (current === undefined) return null;
  if (policy.maxDelegationDepth !== null && chain.depth > policy.maxDelegationDepth) {
    return {
      reason: 'delegation_not_allowed',
      detail: `delegation depth ${chain.depth} exceeds the allowed ${policy.maxDelegationDepth}`,
    };
  }
  if (policy.allowedActors !== null && !matchesAllowlist(current.sub, policy.allowedActors)) {
    return { reason: 'delegation_not_allowed', detail: 'the current actor is not an allowed actor' };
  }
  return null;
}
