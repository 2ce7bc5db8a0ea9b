import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode, ErrorInfo, Json, Result } from '../../engine/types.js';
import { err, ok } from '../../engine/types.js';
import { errorText } from '../../commands/wording.js';

/**
 * Headers on every response. The CSP allows only this origin's scripts and styles (the pages build
 * their DOM with textContent, never HTML from data); `blob:` lets the composer show a picked image.
 * No `Access-Control-*` header is ever sent: other origins may not read anything.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  INVALID_INPUT: 400,
  PROMPT_TOO_LONG: 400,
  IMAGE_INVALID: 400,
  IMAGE_TOO_LARGE: 413,
  QUEUE_FULL: 429,
  DAILY_LIMIT: 429,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_ENDED: 409,
  MODEL_MISSING: 503,
  SHUTTING_DOWN: 503,
};

/** The HTTP status an expected failure is answered with. */
export function statusFor(code: ErrorCode): number {
  return STATUS_BY_CODE[code] ?? 500;
}

/**
 * Whether the request has a body that was not read to its end: then the answer says the connection
 * closes, and the console closes it once the answer is sent (see {@link closeUnreadBodies}) instead of
 * reading the rest only to throw it away.
 */
export function bodyLeftUnread(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return (length !== undefined && length.trim() !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function closing(res: ServerResponse): Record<string, string> {
  return bodyLeftUnread(res.req) ? { Connection: 'close' } : {};
}

/**
 * A request answered before its body was read to the end (refused, too large, not wanted): once the
 * answer is out, the socket is destroyed, so a client cannot make the console swallow hundreds of
 * megabytes it will throw away. Call once per request, before answering.
 */
export function closeUnreadBodies(req: IncomingMessage, res: ServerResponse): void {
  res.once('finish', () => {
    if (!req.complete) req.socket.destroy();
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    ...closing(res),
    ...headers,
  });
  res.end(text);
}

/** An expected failure as the console shows it: the code, the shared plain words, and the facts. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; facts: Record<string, Json> };
}

export function errorBody(error: ErrorInfo): ErrorBody {
  return { error: { code: error.code, message: errorText(error), facts: error.facts ?? {} } };
}

export function sendError(res: ServerResponse, error: ErrorInfo, headers: Record<string, string> = {}): void {
  sendJson(res, statusFor(error.code), errorBody(error), headers);
}

export function sendBytes(res: ServerResponse, bytes: Uint8Array, contentType: string, cache = 'no-store'): void {
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': contentType,
    'Content-Length': String(bytes.byteLength),
    'Cache-Control': cache,
    ...closing(res),
  });
  res.end(bytes);
}

/** A plain-text answer for refusals that happen before any page can show a message. */
export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    ...closing(res),
    ...headers,
  });
  res.end(text);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name && !out.has(name)) out.set(name, value);
  }
  return out;
}

/**
 * Reads a request body, stopping at `maxBytes`: the cap holds while the bytes arrive (a declared
 * Content-Length over the cap is refused before reading). Past the cap nothing more is read: the
 * answer closes the connection (see {@link closeUnreadBodies}).
 */
export function readBody(req: IncomingMessage, maxBytes: number, what: 'image' | 'request'): Promise<Result<Buffer>> {
  const tooLarge = (given: number): Result<never> =>
    err({
      code: what === 'image' ? 'IMAGE_TOO_LARGE' : 'INVALID_INPUT',
      message: `the ${what} is ${given} bytes; the limit is ${maxBytes}`,
      facts: { given, allowed: maxBytes },
    });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve(tooLarge(declared));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (r: Result<Buffer>): void => {
      req.off('data', onData).off('end', onEnd).off('error', onStop).off('close', onStop);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        req.pause();
        return done(tooLarge(size));
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => done(ok(Buffer.concat(chunks, size)));
    // The browser went away mid-upload (tab closed, network lost): not a fault of the console.
    const onStop = (): void => done(err({ code: 'INVALID_INPUT', message: `the ${what} was interrupted after ${size} bytes`, facts: { given: size } }));
    req.on('data', onData).on('end', onEnd).on('error', onStop).on('close', onStop);
  });
}

/** Reads a JSON object body (the only kind of POST the API takes besides raw image uploads). */
export async function readJsonObject(req: IncomingMessage, maxBytes = 64 * 1024): Promise<Result<Record<string, Json>>> {
  const body = await readBody(req, maxBytes, 'request');
  if (!body.ok) return body;
  let parsed: unknown;
  try {
    parsed = body.value.byteLength === 0 ? {} : JSON.parse(body.value.toString('utf8'));
  } catch {
    return err({ code: 'INVALID_INPUT', message: 'the request body is not valid JSON', facts: { given: 'text' } });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return err({ code: 'INVALID_INPUT', message: 'the request body must be a JSON object', facts: { given: Array.isArray(parsed) ? 'array' : typeof parsed } });
  }
  return ok(parsed as Record<string, Json>);
}

/** The media type of a request without parameters, lower-cased. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}
