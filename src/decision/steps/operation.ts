/**
 * 2. The operation: for a workload with `operations`, normalise the path (an ambiguous one is
 * `path_invalid`), match the method and path against the operations (first match wins) and put the
 * matched operation's policy in force. A public operation ends the check here, after its sources.
 */
import { matchesAllowlist } from '../../identity/index.js';
import { normalisePath } from '../path.js';
import { OVERSIZE_PATH } from '../types.js';
import { ALLOW_PUBLIC, deny, type CheckState, type Step, type StepVerdict } from './state.js';
import { callerOf } from './caller-identity.js';

export const operationStep: Step = {
  name: 'operation',
  run(state: CheckState): StepVerdict {
    const operations = state.workload.operations;
    if (operations === null) return undefined;
    const request = state.input.request;
    if (request.path === OVERSIZE_PATH) return deny('path_invalid', 'path longer than limits.maxPathBytes');
    const normalised = normalisePath(request.path);
    if (!normalised.ok) return deny('path_invalid', normalised.detail);
    state.path = normalised.path;
    const match = operations.matcher.match(request.method, normalised.path);
    if (match === null) {
      if (operations.unmatched === 'allow') return undefined;
      return deny('operation_not_allowed', `no operation matches ${request.method || '(no method)'} ${normalised.path}`);
    }
    const operation = operations.operations[match.index];
    if (operation === undefined) return deny('internal_error', `operation ${match.index} is not configured`);
    state.setOperation(operation, match.captures);
    if (!operation.public) return undefined;
    const caller = callerOf(state.input, state.workload);
    state.caller = caller;
    state.source = caller.principal;
    if (state.sources !== null && !matchesAllowlist(caller.principal, state.sources)) {
      return deny('source_not_allowed', `${caller.principal || '(no caller identity)'} may not call ${operation.name}`);
    }
    return ALLOW_PUBLIC;
  },
  describe(state) {
    if (state.workload.operations === null) return 'no operations';
    if (state.operation === null) return `${state.path}: no operation matches; unmatched: allow`;
    const captures = Object.entries(state.captures).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
    return `${state.path} matches ${state.operation.name}${captures.length > 0 ? ` (${captures.join(', ')})` : ''}${state.operation.public ? ', public' : ''}`;
  },
};
