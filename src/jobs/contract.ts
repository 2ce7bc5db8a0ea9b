/**
 * What the three job contracts share: how a refused option is told (code, words, and facts naming
 * the option, what was given and what is allowed), and how a zod issue becomes that refusal.
 *
 * src/jobs imports only the engine's vocabulary and zod, so config, commands, runners and adapters
 * can all read it without an import running back into any of them.
 */
import type { z } from 'zod';
import { err, ok, type Json, type Result } from '../engine/types.js';

/** The codes a contract refuses with: a bad option, or a text over its length limit. */
export type RefusalCode = 'INVALID_INPUT' | 'PROMPT_TOO_LONG';

/** Facts of a refused option: which option, what was given, what is allowed. */
export interface OptionFacts {
  /** The option's name as the payload spells it (`steps`, `negativePrompt`, `messages[2].role`). */
  option: string;
  /** What came: the value (long text clipped). */
  given: Json;
  /** What is allowed: a range in words (`1–60`), a limit (a number), or the list of choices. */
  allowed: Json;
}

/** A refused option, or a text over its limit (its length and the limit, both numbers). */
export type Refusal =
  | { code: 'INVALID_INPUT'; message: string; facts: OptionFacts }
  | { code: 'PROMPT_TOO_LONG'; message: string; facts: { option: string; given: number; allowed: number } };

/**
 * What a check can attach to its zod issue (through `params` of a refinement), for the refusal to
 * carry another code or other facts than the option's usual ones.
 */
export interface IssueParams {
  code?: RefusalCode;
  given?: Json;
  allowed?: Json;
}

const MAX_GIVEN_CHARS = 200;

/** The given value as a fact: JSON as is, long text clipped (facts are logged and shown), the rest as text. */
export function givenFact(v: unknown): Json {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v.length > MAX_GIVEN_CHARS ? `${v.slice(0, MAX_GIVEN_CHARS - 1)}…` : v;
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  return typeof v === 'object' ? 'an object' : String(v);
}

/** The given value in a sentence: `80`, `"wide"`, `nothing`, `a list of 3`. */
export function describe(v: unknown): string {
  if (v === undefined || v === null) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return String(givenFact(v));
}

/** Characters as people count them (code points), not UTF-16 units: an emoji is one. */
export function chars(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** A refused option as a Result. */
export function refuse(code: RefusalCode, option: string, message: string, given: unknown, allowed: Json): Result<never, Refusal> {
  // A length refusal carries numbers (its checks pass the counted length and the limit); should one
  // ever not, it is still refused, as a plain bad option.
  if (code === 'PROMPT_TOO_LONG' && typeof given === 'number' && typeof allowed === 'number') {
    return err({ code, message, facts: { option, given, allowed } });
  }
  return err({ code: 'INVALID_INPUT', message, facts: { option, given: givenFact(given), allowed } });
}

function optionName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'payload';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/**
 * Checks `input` against a contract's schema. The first issue becomes the refusal: its message is
 * the check's own words, the option is the issue's path (`messages[2].role`), and `allowedOf` gives
 * what that option allows unless the check said otherwise in its params.
 */
export function parseWith<T>(schema: z.ZodType<T>, input: unknown, allowedOf: (option: string) => Json): Result<T, Refusal> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return ok(parsed.data);
  const issue = parsed.error.issues[0];
  if (!issue) return refuse('INVALID_INPUT', 'payload', 'the payload was refused', input, null);
  const params: IssueParams = issue.code === 'custom' ? ((issue.params ?? {}) as IssueParams) : {};
  const option = optionName(issue.path);
  const given = 'given' in params ? params.given : valueAt(input, issue.path);
  const allowed = params.allowed !== undefined ? params.allowed : allowedOf(option);
  return refuse(params.code ?? 'INVALID_INPUT', option, issue.message, given, allowed);
}

/** A plain object (what every payload is), for code that must look before it parses. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The entries of an object whose value is neither undefined nor null: absent and null mean "not given". */
export function given<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) (out as Record<string, unknown>)[k] = v;
  return out;
}
