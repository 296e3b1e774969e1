/** Bearer tokens: only `Authorization: Bearer <token>` is accepted, compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { problems } from './problem.js';

export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (\S+)$/.exec(header ?? '');
  if (!m) return false;
  const a = createHash('sha256').update(m[1]).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** 401 unless the request carries one of the tokens; `credential` names what to send. */
export function requireBearer(headers: IncomingHttpHeaders, tokens: (string | undefined)[], credential: string): void {
  const header = Array.isArray(headers.authorization) ? headers.authorization[0] : headers.authorization;
  if (tokens.some((t) => t !== undefined && bearerMatches(header, t))) return;
  throw problems.unauthorized(`send Authorization: Bearer <${credential}>`);
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
