/**
 * Downloads an attachment under three rules: only from allowed hosts (every redirect hop is checked
 * again, before any request is made to it), never more than a byte cap (a declared Content-Length
 * over the cap is refused before the body is read, and the body is cut off as soon as the running
 * count passes the cap), and credentials only to the host they belong to.
 */
import { err, fault, ok, type ErrorCode, type FactsOf, type Result } from '../engine/types.js';
import { isHostAllowed, isLoopbackHost, normalizeHost } from './host-allowlist.js';

export interface FetchImageOptions {
  /** Host names (no port) that may be contacted; see host-allowlist.ts for `*.` entries. */
  allowedHosts: readonly string[];
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  /**
   * Headers for a request to `host` (e.g. the platform's token for the platform's own file host).
   * Asked again for every hop, with that hop's host, so a redirect to another host never carries
   * the first host's token. Only used over https, or plain http to a loopback address.
   */
  headersForHost?: (host: string) => Record<string, string> | undefined;
  /** The fetch to use; tests inject one. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Aborting it rejects the promise with the signal's reason (a cancel is not a download failure). */
  signal?: AbortSignal;
  /** Whole download, redirects included. Default 30 s. */
  timeoutMs?: number;
  /** Default 3. */
  maxRedirects?: number;
}

export interface FetchedImage {
  bytes: Uint8Array;
  /** The final response's Content-Type, if any (pass it to decodeImage as `declaredType`). */
  contentType: string | null;
  /** The URL the bytes came from, after redirects. */
  finalUrl: string;
  redirects: number;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
export const DEFAULT_MAX_REDIRECTS = 3;
export const DEFAULT_TIMEOUT_MS = 30_000;

/** A URL without its query and fragment: enough to say where, without repeating signed tokens into logs. */
function displayUrl(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

const fail = <C extends ErrorCode>(code: C, message: string, facts: FactsOf<C>): Result<never> => err(fault(code, message, facts));

function checkUrl(u: URL, allowedHosts: readonly string[], hop: number): Result<null> {
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return fail('HOST_NOT_ALLOWED', `only http and https downloads are allowed; got ${u.protocol}`, {
      protocol: u.protocol,
      hop,
    });
  }
  if (u.username !== '' || u.password !== '') {
    return fail('HOST_NOT_ALLOWED', 'download URLs must not carry credentials', { host: normalizeHost(u.hostname), hop });
  }
  if (!isHostAllowed(u.hostname, allowedHosts)) {
    const host = normalizeHost(u.hostname);
    const where = hop === 0 ? '' : ` (redirect ${hop})`;
    return fail('HOST_NOT_ALLOWED', `downloads from ${host} are not allowed${where}; allowed hosts: ${allowedHosts.join(', ') || 'none'}`, {
      host,
      allowedHosts: [...allowedHosts],
      hop,
    });
  }
  return ok(null);
}

/** Cancels a body we will not read, so the connection is not left waiting. */
async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // Already closed or errored: nothing left to release.
  }
}

/**
 * Reads the body, stopping the moment the running count passes `maxBytes`: the reader is cancelled
 * and the request aborted, which closes the connection.
 */
async function readCapped(
  res: Response,
  maxBytes: number,
  abortRequest: () => void,
): Promise<Result<Uint8Array>> {
  if (!res.body) return ok(new Uint8Array(0));
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      abortRequest();
      await reader.cancel().catch(() => undefined);
      return fail('IMAGE_TOO_LARGE', `download must be at most ${maxBytes} bytes; stopped after ${total}`, {
        receivedBytes: total,
        allowedBytes: maxBytes,
      });
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return ok(out);
}

/**
 * Fetches an image's bytes. Expected failures come back as values: HOST_NOT_ALLOWED, DOWNLOAD_FAILED
 * (status, network, timeout, too many redirects), IMAGE_TOO_LARGE, INVALID_INPUT (not a URL).
 */
export async function fetchImage(url: string, opts: FetchImageOptions): Promise<Result<FetchedImage>> {
  opts.signal?.throwIfAborted();
  const doFetch = opts.fetch ?? fetch;
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  let current: URL;
  try {
    current = new URL(url);
  } catch {
    return fail('INVALID_INPUT', `not a valid URL: ${url.slice(0, 200)}`, { url: url.slice(0, 200) });
  }

  const request = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    request.abort(new Error(`download timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  const onCallerAbort = (): void => request.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onCallerAbort, { once: true });

  // Any failure after a request started: a caller's abort is rethrown, a timeout or network error is a value.
  const failure = (e: unknown, at: URL): Result<never> => {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (timedOut) {
      return fail('DOWNLOAD_FAILED', `download from ${normalizeHost(at.hostname)} timed out after ${timeoutMs} ms`, {
        reason: 'timeout',
        timeoutMs,
        url: displayUrl(at),
      });
    }
    const cause = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    return fail('DOWNLOAD_FAILED', `download from ${normalizeHost(at.hostname)} failed: ${cause}`, {
      reason: 'network',
      error: cause,
      url: displayUrl(at),
    });
  };

  try {
    for (let hop = 0; ; hop++) {
      const allowed = checkUrl(current, opts.allowedHosts, hop);
      if (!allowed.ok) return allowed;

      const host = normalizeHost(current.hostname);
      const secure = current.protocol === 'https:' || isLoopbackHost(host);
      const headers = secure ? (opts.headersForHost?.(host) ?? {}) : {};

      let res: Response;
      try {
        res = await doFetch(current.href, { redirect: 'manual', headers, signal: request.signal });
      } catch (e) {
        return failure(e, current);
      }

      if (REDIRECT_STATUSES.has(res.status)) {
        await discard(res);
        const location = res.headers.get('location');
        if (!location) {
          return fail('DOWNLOAD_FAILED', `redirect (${res.status}) from ${host} without a Location`, {
            status: res.status,
            url: displayUrl(current),
          });
        }
        if (hop >= maxRedirects) {
          return fail('DOWNLOAD_FAILED', `too many redirects: at most ${maxRedirects} are followed`, {
            reason: 'redirects',
            maxRedirects,
            url: displayUrl(current),
          });
        }
        try {
          current = new URL(location, current);
        } catch {
          return fail('DOWNLOAD_FAILED', `redirect from ${host} to an invalid URL`, { status: res.status, url: displayUrl(current) });
        }
        continue;
      }

      if (!res.ok) {
        await discard(res);
        return fail('DOWNLOAD_FAILED', `download from ${host} failed with HTTP ${res.status}`, {
          status: res.status,
          url: displayUrl(current),
        });
      }

      const declared = res.headers.get('content-length');
      const declaredBytes = declared !== null && /^\d+$/.test(declared.trim()) ? Number(declared) : null;
      if (declaredBytes !== null && declaredBytes > opts.maxBytes) {
        request.abort();
        await discard(res);
        return fail('IMAGE_TOO_LARGE', `download must be at most ${opts.maxBytes} bytes; the server declared ${declaredBytes}`, {
          declaredBytes,
          allowedBytes: opts.maxBytes,
        });
      }

      let body: Result<Uint8Array>;
      try {
        body = await readCapped(res, opts.maxBytes, () => request.abort());
      } catch (e) {
        return failure(e, current);
      }
      if (!body.ok) return body;
      return ok({ bytes: body.value, contentType: res.headers.get('content-type'), finalUrl: current.href, redirects: hop });
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onCallerAbort);
  }
}
