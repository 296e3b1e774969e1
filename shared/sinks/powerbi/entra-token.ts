/**
 * Client-credentials tokens from Entra ID for the Power BI REST API, cached and refreshed
 * five minutes before expiry (or half-way through short lifetimes). Errors name the setting
 * at fault, never the secret.
 */
import { undici } from '../../runtime/http-client.js';
import { Problem } from '../../runtime/problem.js';
import { powerbiProblems } from './problems.js';

export const POWERBI_SCOPE = 'https://analysis.windows.net/powerbi/api/.default';

export interface TokenOptions {
  authorityUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  now?: () => number;
}

export class EntraTokenProvider {
  private token?: string;
  private refreshAt = 0;
  private pending?: Promise<string>;
  fetched = 0;

  constructor(private readonly opts: TokenOptions) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Drop the cached token (after a 401/403 TokenExpired). */
  invalidate(): void {
    this.token = undefined;
    this.refreshAt = 0;
  }

  async get(): Promise<string> {
    if (this.token && this.now() < this.refreshAt) return this.token;
    this.pending ??= this.fetch().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetch(): Promise<string> {
    const url = `${this.opts.authorityUrl.replace(/\/$/, '')}/${encodeURIComponent(this.opts.tenantId)}/oauth2/v2.0/token`;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.opts.clientId, client_secret: this.opts.clientSecret, scope: POWERBI_SCOPE });
    let res;
    try {
      res = await (await undici()).request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), headersTimeout: 30_000, bodyTimeout: 30_000 });
    } catch (err) {
      throw powerbiProblems.authUnreachable((err as { code?: string }).code ?? 'network error');
    }
    const body = (await res.body.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
    if (res.statusCode !== 200 || !body.access_token) {
      const setting = body.error === 'invalid_client' ? 'POWERBI_CLIENT_SECRET' : body.error === 'unauthorized_client' ? 'POWERBI_CLIENT_ID' : body.error === 'invalid_request' ? 'POWERBI_TENANT_ID' : 'POWERBI_CLIENT_ID / POWERBI_TENANT_ID';
      const status = res.statusCode >= 500 ? 503 : 422;
      throw powerbiProblems.authFailed(status, `${body.error ?? `HTTP ${res.statusCode}`}: ${(body.error_description ?? '').split('\r\n')[0]} (check ${setting})`, setting);
    }
    this.fetched++;
    const lifetime = (body.expires_in ?? 3599) * 1000;
    this.token = body.access_token;
    this.refreshAt = this.now() + Math.max(lifetime / 2, lifetime - 5 * 60_000);
    return this.token;
  }
}
