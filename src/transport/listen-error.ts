/**
 * A listener that could not bind: reported as one line naming the address (`hopguard: cannot
 * listen on 127.0.0.1:9191 for grpc: the address is already in use`), never as a stack trace.
 */
export type ListenerName = 'grpc' | 'http' | 'admin';

const CAUSES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (another hopguard, or another program, listens there)',
  EACCES: 'permission denied (a port below 1024 needs privileges)',
  EADDRNOTAVAIL: 'no network interface has that address',
  ENOTFOUND: 'the host name does not resolve',
};

export class ListenError extends Error {
  override readonly name = 'ListenError';

  constructor(
    readonly listener: ListenerName,
    readonly address: string,
    /** The system error code (EADDRINUSE, ...), or 'error'. */
    readonly code: string,
    /** What the user can do about it, when the caller knows (the demo's environment variables). */
    readonly hint: string | null = null,
  ) {
    super(`cannot listen on ${address} for ${listener}: ${CAUSES[code] ?? code}${hint ? `; ${hint}` : ''}`);
  }

  withHint(hint: string): ListenError {
    return new ListenError(this.listener, this.address, this.code, hint);
  }

  /** From a bind failure: Node's errors carry `code`; grpc-js folds it into its message. */
  static from(listener: ListenerName, address: string, error: unknown): ListenError {
    const code = (error as NodeJS.ErrnoException)?.code ?? /\b(E[A-Z]{3,})\b/.exec(String((error as Error)?.message ?? error))?.[1] ?? 'error';
    return new ListenError(listener, address, code);
  }
}
