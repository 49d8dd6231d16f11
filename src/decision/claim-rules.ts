/** A workload's `claims` rules, evaluated over verified claims only. */
import type { ClaimRequirement, ClaimRule } from '../config/types.js';
import { substituteCaptures } from './operation-matcher.js';
import type { JsonValue, JwtClaims } from './types.js';

/** Follows a dotted path through own properties only, so `__proto__` or `constructor` reach nothing. */
export function claimAt(claims: JwtClaims, path: readonly string[]): JsonValue | undefined {
  let current: JsonValue | undefined = claims as JsonValue;
  for (const part of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, part)) return undefined;
    current = (current as Record<string, JsonValue>)[part];
  }
  return current;
}

function satisfies(value: JsonValue | undefined, rule: ClaimRule): boolean {
  switch (rule.kind) {
    case 'exists':
      return value !== undefined && value !== null;
    case 'equals':
      return value === rule.value;
    case 'oneOf':
      return rule.values.some((candidate) => candidate === value);
    case 'prefix':
      return typeof value === 'string' && value.startsWith(rule.value);
    case 'contains':
      if (Array.isArray(value)) return value.some((item) => item === rule.value);
      // OAuth's `scope` is one space-separated string (RFC 8693 §4.2).
      return typeof value === 'string' && typeof rule.value === 'string' && value.split(' ').includes(rule.value);
  }
}

type Captures = Readonly<Record<string, string>>;

function withCaptures(value: string | number | boolean, captures: Captures): string | number | boolean {
  return typeof value === 'string' ? substituteCaptures(value, captures) : value;
}

/** The rule with `{name}` replaced by this request's captured path segments. */
export function ruleFor(requirement: ClaimRequirement, captures: Captures): ClaimRule {
  const rule = requirement.rule;
  if (!requirement.usesCaptures) return rule;
  switch (rule.kind) {
    case 'equals':
      return { kind: 'equals', value: withCaptures(rule.value, captures) };
    case 'oneOf':
      return { kind: 'oneOf', values: rule.values.map((value) => withCaptures(value, captures)) };
    case 'prefix':
      return { kind: 'prefix', value: substituteCaptures(rule.value, captures) };
    default:
      return rule;
  }
}

/** The first requirement the claims fail (with its rule as applied), or null when all hold. */
export function firstUnmetClaim(
  claims: JwtClaims,
  requirements: readonly ClaimRequirement[],
  captures: Captures = {},
): { readonly requirement: ClaimRequirement; readonly rule: ClaimRule } | null {
  for (const requirement of requirements) {
    const rule = ruleFor(requirement, captures);
    if (!satisfies(claimAt(claims, requirement.path), rule)) return { requirement, rule };
  }
  return null;
}

export function describeRule(requirement: ClaimRequirement, rule: ClaimRule = requirement.rule): string {
  switch (rule.kind) {
    case 'exists':
      return `${requirement.name} must exist`;
    case 'equals':
      return `${requirement.name} must equal ${JSON.stringify(rule.value)}`;
    case 'oneOf':
      return `${requirement.name} must be one of ${JSON.stringify(rule.values)}`;
    case 'prefix':
      return `${requirement.name} must start with ${JSON.stringify(rule.value)}`;
    case 'contains':
      return `${requirement.name} must contain ${JSON.stringify(rule.value)}`;
  }
}
