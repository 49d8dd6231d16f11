/** 5. The protected header against the issuer's rules: its algorithm allowlist and accepted types. */
import { normaliseType } from '../../jwt/typ.js';
import { deny, type CheckState, type Step, type StepVerdict } from './state.js';
import { parsedToken } from './issuer.js';

export const headerStep: Step = {
  name: 'header',
  run(state: CheckState): StepVerdict {
    const { header } = parsedToken(state);
    const issuer = state.issuer;
    if (!(issuer.algorithms as readonly string[]).includes(header.alg)) {
      return deny('alg_not_allowed', `alg ${header.alg} is not in ${issuer.algorithms.join(', ')}`);
    }
    const typ = header.typ === undefined ? null : normaliseType(header.typ);
    if (!issuer.types.has(typ)) return deny('type_not_allowed', `typ ${header.typ ?? '(absent)'} is not accepted`);
    return undefined;
  },
  describe(state) {
    const { header } = parsedToken(state);
    return `alg ${header.alg}, typ ${header.typ ?? '(absent)'}`;
  },
};
