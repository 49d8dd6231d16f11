/**
 * Structured JSON logs (pino). Decision logs: every denial, every shadow-mode would-be denial, and
 * a sampled share of plain allows. They name the token by jti, kid, iss, sub and a short hash,
 * never by the token itself; token-derived strings are cut to a bounded length.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { CheckInput, Decision } from '../decision/types.js';
import { decisionLabel, reasonLabel } from './metrics.js';

/** A claim is caller data: long enough to be useful, short enough to keep a log line bounded. */
const MAX_LOGGED_CHARS = 256;

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      name: 'hopguard',
      level,
      base: { pid: process.pid },
      // Belt and braces: should a future field carry one, it is censored, not printed.
      redact: { paths: ['token', 'authorization', 'headers.authorization', 'key', 'privateKey'], censor: '[redacted]' },
    },
    destination,
  );
}

function bounded(text: string): string {
  return text.length > MAX_LOGGED_CHARS ? `${text.slice(0, MAX_LOGGED_CHARS)}…` : text;
}

export interface DecisionLogger {
  log(decision: Decision, seconds: number, input: CheckInput | null, source: 'grpc' | 'http'): void;
  setSampleRate(rate: number): void;
}

export function createDecisionLogger(logger: Logger, sampleRate: number, random: () => number = Math.random): DecisionLogger {
  let rate = sampleRate;
  return {
    log(decision, seconds, input, transport) {
      const internalError = decision.audit.internalError;
      if (internalError !== null) {
        // A bug inside hopguard, not a bad token: logged with its stack at error level.
        logger.error({ reason: 'internal_error', workload: decision.workload, tokenHash: decision.audit.tokenHash, stack: internalError, transport }, 'internal error while checking');
      }
      const shadow = decision.allowed && decision.shadowReason !== null;
      if (decision.allowed && !shadow && !(rate > 0 && random() < rate)) return;
      if (!logger.isLevelEnabled('info')) return;
      const { audit } = decision;
      const requestId = input?.headers.get('x-request-id')?.[0];
      logger.info(
        {
          decision: decisionLabel(decision),
          reason: reasonLabel(decision),
          workload: decision.workload,
          ...(decision.operation === '' ? {} : { operation: decision.operation }),
          // The caller step resolves the caller (XFCC included); a denial before it still names the
          // mTLS caller the request came from, so every line says who called.
          source: bounded(audit.source || (input?.sourcePrincipal ?? '')),
          iss: bounded(audit.iss),
          sub: bounded(audit.sub),
          jti: bounded(audit.jti),
          kid: bounded(audit.kid),
          tokenHash: audit.tokenHash,
          ...(audit.txn === '' ? {} : { txn: bounded(audit.txn) }),
          ...(audit.dpopOutcome === null ? {} : { dpop: audit.dpopOutcome }),
          ...(decision.allowed ? {} : { detail: bounded(decision.detail) }),
          ...(audit.storeError ? { storeError: true } : {}),
          ...(requestId === undefined ? {} : { requestId: bounded(requestId) }),
          transport,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          ...(decision.allowed && !shadow ? { sampled: rate } : {}),
        },
        'decision',
      );
    },
    setSampleRate(next) {
      rate = next;
    },
  };
}
