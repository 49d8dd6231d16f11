/**
 * The one error a ReplayStore raises. It carries the reason code the pipeline turns it into
 * (unless `onStoreError: allow`) and a kind for logs and tests. Its message never holds a
 * credential: it is built from our own words plus the driver's message, never the driver's
 * error object (ioredis attaches the command and its arguments, which for AUTH is the password).
 */
export type ReplayStoreErrorKind =
  /** the store did not answer within `replay.timeout` */
  | 'timeout'
  /** not connected: the call failed fast without reaching the store */
  | 'unavailable'
  /** the store answered with an error, or answered something we do not understand */
  | 'failed'
  /** the store was closed */
  | 'closed'
  /** the settings cannot work (raised when the store is created) */
  | 'misconfigured';

export class ReplayStoreError extends Error {
  override readonly name = 'ReplayStoreError';
  readonly reason = 'replay_store_unavailable' as const;

  constructor(
    readonly kind: ReplayStoreErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** The message of whatever a driver threw, without the rest of the object. */
export function driverMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 300);
  return 'unknown error';
}

/** Minimal structured logger; a pino logger fits. Fields never hold secrets or whole jtis. */
export interface ReplayLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}
