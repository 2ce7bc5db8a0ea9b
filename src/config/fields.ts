/**
 * The field helpers of the config schema: numbers that may arrive as text through `${VAR}`, ids,
 * credentials, and the wording each check gives when a value is wrong.
 */
import { z } from 'zod';

export const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Values that came through `${VAR}` are strings; a plain number written as text is taken as that number. */
export function numeric<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v) : v), schema);
}

export function rangeWords(kind: 'an integer' | 'a number', min: number, max: number | undefined): string {
  return max === undefined ? `${kind} of ${min} or more` : `${kind} from ${min} to ${max}`;
}

export function intIn(min: number, max?: number, expected = rangeWords('an integer', min, max)) {
  let s = z.number({ error: expected }).int({ error: expected }).min(min, { error: expected });
  if (max !== undefined) s = s.max(max, { error: expected });
  return numeric(s);
}

export function numIn(min: number, max?: number, expected = rangeWords('a number', min, max)) {
  let s = z.number({ error: expected }).min(min, { error: expected });
  if (max !== undefined) s = s.max(max, { error: expected });
  return numeric(s);
}

export function positive(expected = 'a number greater than 0') {
  return numeric(z.number({ error: expected }).positive({ error: expected }));
}

/** `auto` or a number; both branches carry the same wording so the error reads the same whichever failed. */
export function autoOr<T extends z.ZodType>(make: (expected: string) => T, what: string) {
  const expected = `${what}, or "auto"`;
  return z.union([z.literal('auto', { error: expected }), make(expected)], { error: expected });
}

export const bool = z.preprocess(
  (v) => (v === 'true' ? true : v === 'false' ? false : v),
  z.boolean({ error: 'true or false' }),
);

/**
 * An optional credential. `${VAR:-}` yields '' when VAR is unset, which must read as "not configured";
 * pasted tokens often carry a trailing newline, which no platform accepts.
 */
export const secret = z.preprocess(
  (v) => (typeof v === 'string' ? (v.trim() === '' ? undefined : v.trim()) : v),
  z.string({ error: 'a string' }).optional(),
);

/**
 * A platform id. Discord ids are larger than a JavaScript number holds exactly, so the loader turns
 * such YAML integers into digit strings; small ones arrive as numbers and are taken as their digits.
 */
export const id = z.preprocess(
  (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? String(v) : v),
  z.string({ error: 'an id (a string of letters or digits; quote long numbers)' }).min(1, { error: 'a non-empty id' }),
);
export const optionalId = z.preprocess(
  (v) => (v === '' ? undefined : v),
  id.optional(),
);
export const idList = z.array(id, { error: 'a list of ids' }).default([]);

export function httpUrl(def: string, normalize: (u: string) => string) {
  const expected = 'an http:// or https:// URL';
  return z.url({ protocol: /^https?$/, error: expected }).transform(normalize).default(def);
}

export const nonEmpty = (expected: string) => z.string({ error: expected }).trim().min(1, { error: expected });

