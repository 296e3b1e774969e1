/**
 * RFC 9457 problem details: the one error shape every function answers with.
 * `file`, `line` and `column` say where in the input the problem is, when that is known.
 */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  file?: string;
  line?: number;
  column?: string | number;
  [extension: string]: unknown;
}

const TYPE_BASE = 'https://mini-pipeline.dev/problems/';

export class Problem extends Error {
  readonly status: number;
  readonly title: string;
  readonly type: string;
  readonly detail?: string;
  readonly extensions: Record<string, unknown>;

  constructor(status: number, slug: string, title: string, detail?: string, extensions: Record<string, unknown> = {}) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'Problem';
    this.status = status;
    this.title = title;
    this.type = slug.startsWith('http') || slug === 'about:blank' ? slug : TYPE_BASE + slug;
    this.detail = detail;
    this.extensions = extensions;
  }

  /** A problem received as details (from another function, or a trailer) made a Problem again. */
  static fromDetails(d: ProblemDetails): Problem {
    const { type, title, status, detail, ...extensions } = d;
    return new Problem(status, type, title, detail, extensions);
  }

  /** The same problem with more extensions. */
  with(extensions: Record<string, unknown>): Problem {
    return new Problem(this.status, this.type, this.title, this.detail, { ...this.extensions, ...extensions });
  }

  /** Whether retrying the same request later can succeed (5xx and 429). */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429;
  }

  toJSON(): ProblemDetails {
    const body: ProblemDetails = { type: this.type, title: this.title, status: this.status };
    if (this.detail !== undefined) body.detail = this.detail;
    for (const [k, v] of Object.entries(this.extensions)) if (v !== undefined) body[k] = v;
    return body;
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** A named kind of problem: its status, type and title fixed, its detail and extensions per case. */
export function problemType(status: number, slug: string, title: string) {
  return (detail?: string, extensions?: Record<string, unknown>) => new Problem(status, slug, title, detail, extensions);
}

/** The problems of the function runtime and the HTTP calls between functions. */
export const problems = {
  invalidJson: problemType(400, 'invalid-json', 'Malformed JSON'),
  invalidRequest: problemType(400, 'invalid-request', 'Invalid request body'),
  invalidParameter: (name: string, allowed: string) => new Problem(400, 'invalid-parameter', `Invalid ${name}`, `${name} must be one of ${allowed}`, { parameter: name }),
  unauthorized: problemType(401, 'unauthorized', 'Missing or wrong bearer token'),
  methodNotAllowed: problemType(405, 'method-not-allowed', 'Method not allowed'),
  bodyIdle: problemType(408, 'body-idle', 'The request body stopped arriving'),
  clientClosed: problemType(499, 'client-closed', 'The client went away'),
  bodyTooLarge: (limit: number) => new Problem(413, 'body-too-large', 'Request body too large', `the limit for this function is ${limit} bytes`),
  answerTooLarge: problemType(413, 'answer-too-large', 'Too large for one JSON document'),
  internal: problemType(500, 'internal', 'Internal error'),
  downstreamUnreachable: (target: string, detail?: string) => new Problem(502, 'downstream-unreachable', `${target} is unreachable`, detail, { target }),
  downstreamFailed: problemType(502, 'downstream-failed', 'Processing failed and can be retried'),
  draining: problemType(503, 'draining', 'Function is shutting down'),
  timeout: problemType(504, 'timeout', 'Function timed out'),
};

/** Turn any thrown value into a Problem without leaking stack traces or internals. */
export function toProblem(err: unknown, callId?: string): Problem {
  if (err instanceof Problem) return err;
  if (isZodLike(err)) {
    const first = err.issues[0];
    const where = first && first.path.length ? first.path.join('.') : '(root)';
    return problems.invalidRequest(`${where}: ${first?.message ?? 'invalid'}`, { field: where });
  }
  return problems.internal(callId ? `see logs for call ${callId}` : undefined);
}

interface ZodLike {
  issues: { path: PropertyKey[]; message: string }[];
}

function isZodLike(err: unknown): err is ZodLike {
  return typeof err === 'object' && err !== null && Array.isArray((err as ZodLike).issues) && (err as Error).name === 'ZodError';
}
