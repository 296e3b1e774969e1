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

export function badRequest(slug: string, title: string, detail?: string, ext?: Record<string, unknown>): Problem {
  return new Problem(400, slug, title, detail, ext);
}

export function unprocessable(slug: string, title: string, detail?: string, ext?: Record<string, unknown>): Problem {
  return new Problem(422, slug, title, detail, ext);
}

/** Turn any thrown value into a Problem without leaking stack traces or internals. */
export function toProblem(err: unknown, callId?: string): Problem {
  if (err instanceof Problem) return err;
  if (isZodLike(err)) {
    const first = err.issues[0];
    const where = first && first.path.length ? first.path.join('.') : '(root)';
    return new Problem(400, 'invalid-request', 'Invalid request body', `${where}: ${first?.message ?? 'invalid'}`, {
      field: where,
    });
  }
  return new Problem(500, 'internal', 'Internal error', callId ? `see logs for call ${callId}` : undefined);
}

interface ZodLike {
  issues: { path: PropertyKey[]; message: string }[];
}

function isZodLike(err: unknown): err is ZodLike {
  return typeof err === 'object' && err !== null && Array.isArray((err as ZodLike).issues) && (err as Error).name === 'ZodError';
}
