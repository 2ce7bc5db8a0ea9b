import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isLoopbackHost } from '../../config/schema.js';
import { parseCookies } from './http.js';

export const SESSION_COOKIE = 'hearth_session';
export const AUTH_COOKIE = 'hearth_auth';
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;
const AUTH_COOKIE_MAX_AGE = 30 * 24 * 3600;

/** What the gate decided about one request. */
export type GateResult =
  /** `session` is undefined for requests that may not start one (static files). */
  | { kind: 'pass'; session: string | undefined; setCookies: string[] }
  /** A `?token=` that was right: the cookie is set and the browser goes on to the same address without it. */
  | { kind: 'redirect'; location: string; setCookies: string[] }
  | { kind: 'refuse'; status: 401 | 403; reason: string };

export interface GateOptions {
  /** `web.token`; when set it is required on every request, whatever the address. */
  token: string | undefined;
  /** `web.host` as configured. */
  host: string;
  /** The port really listened on (known after listen when `web.port` is 0). */
  port: () => number;
}

/** Compares secrets in constant time, whatever their lengths (both are hashed to the same size first). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Decides, before any handler runs, whether a request may go on, and which browser session it
 * belongs to. Checks, in order:
 * - Without a token (loopback only): the Host header must name this machine, so a web page that
 *   rebinds its own DNS name to 127.0.0.1 cannot talk to the console.
 * - Other sites: `Sec-Fetch-Site: cross-site` is refused except for a plain navigation to a page, and
 *   a POST whose `Origin` is not this console's is refused. Together with JSON/image-only bodies (which
 *   need a CORS preflight that is never granted) no other origin can run a command.
 * - With a token: `Authorization: Bearer`, the HttpOnly cookie a right `?token=` sets, or that
 *   `?token=` itself; anything else is 401. The cookie holds an HMAC of the token, not the token.
 */
export class Gatekeeper {
  readonly #token: string | undefined;
  readonly #cookieValue: string | undefined;
  readonly #host: string;
  readonly #port: () => number;

  constructor(opts: GateOptions) {
    this.#token = opts.token;
    this.#cookieValue = opts.token ? createHmac('sha256', opts.token).update('hearth web console cookie v1').digest('base64url') : undefined;
    this.#host = opts.host;
    this.#port = opts.port;
  }

  get requiresToken(): boolean {
    return this.#token !== undefined;
  }

  /**
   * @param opts.session whether this request may start a browser session (pages and the API do).
   *   Static files may not: a browser may fetch some of them (the icon) without the SameSite=Strict
   *   cookie, and a new session cookie on that answer would replace the page's own.
   */
  check(req: IncomingMessage, url: URL, opts: { session: boolean }): GateResult {
    const method = req.method ?? 'GET';
    const isPage = method === 'GET' && !url.pathname.startsWith('/api/') && !url.pathname.startsWith('/static/');
    if (!this.#token && !this.#hostAllowed(req.headers.host)) {
      return { kind: 'refuse', status: 403, reason: 'This console answers only requests addressed to this machine (localhost or 127.0.0.1).' };
    }
    const site = header(req, 'sec-fetch-site');
    const navigate = header(req, 'sec-fetch-mode') === 'navigate';
    if (site === 'cross-site' && !(isPage && navigate)) {
      return { kind: 'refuse', status: 403, reason: 'Requests from other web sites are not allowed.' };
    }
    if (method !== 'GET' && method !== 'HEAD') {
      const origin = header(req, 'origin');
      if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) {
        return { kind: 'refuse', status: 403, reason: 'Requests from other web sites are not allowed.' };
      }
    }
    const setCookies: string[] = [];
    if (this.#token && this.#cookieValue) {
      const cookies = parseCookies(req.headers.cookie);
      const bearer = /^Bearer\s+(.+)$/i.exec(header(req, 'authorization') ?? '')?.[1]?.trim();
      const query = url.searchParams.get('token');
      const cookie = cookies.get(AUTH_COOKIE);
      let allowed = false;
      if (bearer !== undefined) allowed = sameSecret(bearer, this.#token);
      else if (query !== null) {
        allowed = sameSecret(query, this.#token);
        if (allowed) {
          setCookies.push(`${AUTH_COOKIE}=${this.#cookieValue}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${AUTH_COOKIE_MAX_AGE}`);
          if (method === 'GET') {
            const clean = new URL(url);
            clean.searchParams.delete('token');
            this.#session(req, setCookies);
            return { kind: 'redirect', location: clean.pathname + clean.search, setCookies };
          }
        }
      } else if (cookie !== undefined) allowed = sameSecret(cookie, this.#cookieValue);
      if (!allowed) {
        return {
          kind: 'refuse',
          status: 401,
          reason: 'This hearth console needs its access token (web.token): open it once as /?token=YOUR_TOKEN, or send Authorization: Bearer YOUR_TOKEN.',
        };
      }
    }
    const session = opts.session ? this.#session(req, setCookies) : undefined;
    return { kind: 'pass', session, setCookies };
  }

  /**
   * The browser session: a random id in a cookie that lasts until the browser closes. It names the
   * conversation and grants nothing (the token does), so it is SameSite=Lax: a Strict cookie is not
   * sent when the console is reached from a link or a new tab, and the conversation would be lost.
   * Other sites still cannot act with it: see the Origin and content-type checks.
   */
  #session(req: IncomingMessage, setCookies: string[]): string {
    const given = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (given !== undefined && SESSION_ID.test(given)) return given;
    const id = randomBytes(16).toString('base64url');
    setCookies.push(`${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Lax; Path=/`);
    return id;
  }

  #hostAllowed(hostHeader: string | undefined): boolean {
    if (!hostHeader) return false;
    const port = String(this.#port());
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostHeader.trim().toLowerCase());
    if (!m) return false;
    const name = m[1]!;
    if ((m[2] ?? '80') !== port) return false;
    return name === this.#host.toLowerCase() || isLoopbackHost(name);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
