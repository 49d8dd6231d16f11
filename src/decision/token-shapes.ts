/**
 * The token guards are a pure function of the token text, and a warm path sees the same tokens
 * again and again: their outcome for recently seen well-formed tokens is kept (bounded), so only
 * the per-request checks run again. Nothing here is trusted more than on a first sight.
 */
import { hash } from 'node:crypto';
import { parseCompact } from '../jwt/compact.js';
import type { TokenShape } from './steps/state.js';

/** How many recently seen tokens keep their parsed shape (at most 8 KiB each by default). */
const RECENT_SHAPES = 1024;
/** How many tokens seen once are remembered (by their short hash) as candidates. */
const SEEN_ONCE = 4096;

export function shortTokenHash(token: string): string {
  return hash('sha256', token, 'base64url').slice(0, 16);
}

export function createTokenShapes(): (token: string) => TokenShape {
  const recentShapes = new Map<string, TokenShape>();
  // A token is remembered on its second sight only: a flood of one-off tokens then retains 16-byte
  // hashes, not whole tokens and their parsed objects (which would cost the garbage collector).
  const seenOnce = new Set<string>();
  return function shapeOf(token: string): TokenShape {
    const recent = recentShapes.get(token);
    if (recent !== undefined) return recent;
    const shape: TokenShape = { tokenHash: shortTokenHash(token), parsed: parseCompact(token) };
    if (!shape.parsed.ok) return shape;
    if (seenOnce.delete(shape.tokenHash)) {
      // Not frozen: freezing the header object cost tens of µs per check in V8 (measured), and
      // ProtectedHeader is readonly in its type; nothing writes to it.
      if (recentShapes.size >= RECENT_SHAPES) recentShapes.delete(recentShapes.keys().next().value as string);
      recentShapes.set(token, shape);
    } else {
      if (seenOnce.size >= SEEN_ONCE) seenOnce.delete(seenOnce.values().next().value as string);
      seenOnce.add(shape.tokenHash);
    }
    return shape;
  };
}
