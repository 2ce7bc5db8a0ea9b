import type { IncomingMessage } from 'node:http';
import { isLoopbackHost } from '../../config/schema.js';
import { FailureBackoff } from './backoff.js';
import { parseCookies } from './http.js';
import { sameSecret } from './secrets.js';
import type { ConsoleKeys } from './session.js';

export { sameSecret } from './secrets.js';

export const SESSION_COOKIE = 'hearth_session';
export const AUTH_COOKIE = 'hearth_auth';
const AUTH_COOKIE_MAX_AGE = 30 * 24 * 3600;
/** The principal of the shared `web.token` in a sign-in cookie (user names start with a letter or digit). */
const SHARED = '-';

/** Who a console request acts as, for limits and fair share. Never derived from the session. */
export interface ConsoleUser {
  /** `web:console` for everyone who has not signed in; `web:NAME` for a `web.users` entry. */
  userId: string;
  userName: string;
  /** The `web.users` name signed in with, if any. */
  name?: string;
}

/** Everyone at the console who has not signed in with a token of their own. */
export const SHARED_USER: ConsoleUser = { userId: 'web:console', userName: 'console' };

export function userOf(name: string | undefined): ConsoleUser {
  return name === undefined ? SHARED_USER : { userId: `web:${name}`, userName: name, name };
}

/** What the gate decided about one request. */
export type GateResult =
  /** `session` (the session's key, see {@link ConsoleKeys}) is undefined for requests that may not start one (static files). */
  | { kind: 'pass'; session: string | undefined; user: ConsoleUser; setCookies: string[] }
  /** A `?token=` that was right: the cookie is set and the browser goes on to the same address without it. */
  | { kind: 'redirect'; location: string; setCookies: string[] }
  | { kind: 'refuse'; status: 401 | 403 | 429; reason: string; retryAfter?: number; setCookies?: string[] };

export interface GateOptions {
  /** `web.token`; when set it (or a `web.users` token) is required on every request, whatever the address. */
  token: string | undefined;
  /** `web.users`: people who sign in with their own token. */
  users: ReadonlyArray<{ name: string; token: string }>;
  /** `web.host` as configured. */
  host: string;
  /** The port really listened on (known after listen when `web.port` is 0). */
  port: () => number;
  keys: ConsoleKeys;
  backoff?: FailureBackoff;
}

const NEEDS_TOKEN =
  'This hearth console needs its access token (web.token): open it once as /?token=YOUR_TOKEN, or send Authorization: Bearer YOUR_TOKEN.';

/**
 * Decides, before any handler runs, whether a request may go on, who it acts as, and which browser
 * session it belongs to. Checks, in order:
 * - Without a token (loopback only): the Host header must name this machine, so a web page that
 *   rebinds its own DNS name to 127.0.0.1 cannot talk to the console.
 * - Other sites: `Sec-Fetch-Site: cross-site` is refused except for a plain navigation to a page, and
 *   a POST whose `Origin` is not this console's is refused. Together with JSON/image-only bodies (which
 *   need a CORS preflight that is never granted) no other origin can run a command.
 * - Tokens: `Authorization: Bearer`, the HttpOnly cookie a right `?token=` sets, or that `?token=`
 *   itself. `web.token` lets in as the shared console user; a `web.users` token as that person. With
 *   `web.token` set, a request with neither is 401. A wrong token makes its address wait (429 with
 *   Retry-After) before any token of it is looked at again. The cookie holds an HMAC, not the token.
 */
export class Gatekeeper {
  readonly #token: string | undefined;
  readonly #users: ReadonlyArray<{ name: string; token: string }>;
  readonly #host: string;
  readonly #port: () => number;
  readonly #keys: ConsoleKeys;
  readonly #backoff: FailureBackoff;

  constructor(opts: GateOptions) {
    this.#token = opts.token;
    this.#users = opts.users;
    this.#host = opts.host;
    this.#port = opts.port;
    this.#keys = opts.keys;
    this.#backoff = opts.backoff ?? new FailureBackoff();
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
    const bearer = /^Bearer\s+(.+)$/i.exec(header(req, 'authorization') ?? '')?.[1]?.trim();
    const query = url.searchParams.get('token');
    const given = bearer ?? query ?? undefined;
    let principal: string | undefined;
    if (given !== undefined) {
      const address = req.socket.remoteAddress ?? 'unknown';
      const wait = this.#backoff.waitMs(address);
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        return { kind: 'refuse', status: 429, retryAfter: seconds, reason: `Too many wrong tokens from this address: try again in ${seconds} s.` };
      }
      principal = this.#principalOf(given);
      if (principal === undefined) {
        this.#backoff.failed(address);
        return { kind: 'refuse', status: 401, reason: this.#token ? NEEDS_TOKEN : 'That token is not one of this console\'s (web.users).' };
      }
      this.#backoff.succeeded(address);
      if (bearer === undefined) {
        setCookies.push(`${AUTH_COOKIE}=${principal}.${this.#authMac(principal, given)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${AUTH_COOKIE_MAX_AGE}`);
        if (method === 'GET') {
          const clean = new URL(url);
          clean.searchParams.delete('token');
          this.#session(req, setCookies);
          return { kind: 'redirect', location: clean.pathname + clean.search, setCookies };
        }
      }
    } else {
      const cookie = parseCookies(req.headers.cookie).get(AUTH_COOKIE);
      principal = cookie === undefined ? undefined : this.#cookiePrincipal(cookie);
      // A cookie of an old token (or made up): dropped, and not counted as a guess (an HMAC cannot be guessed).
      if (cookie !== undefined && principal === undefined) setCookies.push(`${AUTH_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    }
    if (principal === undefined && this.#token) return { kind: 'refuse', status: 401, reason: NEEDS_TOKEN, setCookies };
    const session = opts.session ? this.#session(req, setCookies) : undefined;
    return { kind: 'pass', session, user: userOf(principal === SHARED ? undefined : principal), setCookies };
  }

  /** Who a token signs in as: SHARED for web.token, a name for a web.users token. Every token is compared. */
  #principalOf(given: string): string | undefined {
    let found: string | undefined;
    if (this.#token !== undefined && sameSecret(given, this.#token)) found = SHARED;
    for (const u of this.#users) if (sameSecret(given, u.token)) found ??= u.name;
    return found;
  }

  #tokenOf(principal: string): string | undefined {
    return principal === SHARED ? this.#token : this.#users.find((u) => u.name === principal)?.token;
  }

  #authMac(principal: string, token: string): string {
    return this.#keys.mac('sign-in', `${principal}\u0000${token}`);
  }

  #cookiePrincipal(cookie: string): string | undefined {
    const dot = cookie.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const principal = cookie.slice(0, dot);
    const token = this.#tokenOf(principal);
    if (token === undefined) return undefined;
    return sameSecret(cookie.slice(dot + 1), this.#authMac(principal, token)) ? principal : undefined;
  }

  /**
   * The browser session, as its key: a server-issued, signed id in a cookie that lasts until the browser
   * closes; a missing, made-up or altered one is replaced by a new one. It names the conversation and
   * grants no limits of its own (everyone shares the console's user unless signed in), so it is
   * SameSite=Lax: a Strict cookie is not sent when the console is reached from a link or a new tab, and
   * the conversation would be lost. Other sites still cannot act with it: see the Origin and
   * content-type checks.
   */
  #session(req: IncomingMessage, setCookies: string[]): string {
    const key = this.#keys.sessionKey(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
    if (key !== undefined) return key;
    const fresh = this.#keys.issueSession();
    setCookies.push(`${SESSION_COOKIE}=${fresh.cookie}; HttpOnly; SameSite=Lax; Path=/`);
    return fresh.key;
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
