/** A small route table for the emulator: `METHOD /path/:param` patterns to named handlers. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  parts: string[];
  handler: RouteHandler;
}

export class Router {
  private readonly routes: Route[] = [];

  /** `method` may be `*` (any); a path part `:name` captures one segment. */
  on(method: string, path: string, handler: RouteHandler): this {
    this.routes.push({ method, parts: path.split('/').filter(Boolean), handler });
    return this;
  }

  /** The handler for a request and its path parameters, or what is wrong (404, 405). */
  match(method: string, pathname: string): { handler: RouteHandler; params: Record<string, string> } | { status: 404 | 405 } {
    const segs = pathname.split('/').filter(Boolean);
    let pathMatched = false;
    for (const r of this.routes) {
      if (r.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      const ok = r.parts.every((p, i) => (p.startsWith(':') ? ((params[p.slice(1)] = decodeURIComponent(segs[i])), true) : p === segs[i]));
      if (!ok) continue;
      pathMatched = true;
      if (r.method === '*' || r.method === method) return { handler: r.handler, params };
    }
    return { status: pathMatched ? 405 : 404 };
  }
}
