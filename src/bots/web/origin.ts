import type { Json } from '../../engine/types.js';

/**
 * Where a console job is answered, stored with the job (so a job queued before a restart still finds
 * its browser session): the session, and the composer's reference for the card the answer goes in.
 */
export interface WebOrigin {
  platform: 'web';
  session: string;
  ref: string;
  /** A chat message with an image: its description (a caption job) and the chat question share the card. */
  then?: 'ask';
  /** The question as the user typed it, when the job's own prompt carries more (an image's description). */
  prompt?: string;
}

const REF = /^[A-Za-z0-9_-]{1,40}$/;

export function isRef(v: unknown): v is string {
  return typeof v === 'string' && REF.test(v);
}

export function toJson(o: WebOrigin): Json {
  const out: Record<string, Json> = { platform: 'web', session: o.session, ref: o.ref };
  if (o.then) out.then = o.then;
  if (o.prompt !== undefined) out.prompt = o.prompt;
  return out;
}

/** The origin of a console job, or undefined for a job of another platform. */
export function parseOrigin(origin: Json | null | undefined): WebOrigin | undefined {
  if (typeof origin !== 'object' || origin === null || Array.isArray(origin)) return undefined;
  if (origin.platform !== 'web' || typeof origin.session !== 'string' || !isRef(origin.ref)) return undefined;
  const out: WebOrigin = { platform: 'web', session: origin.session, ref: origin.ref };
  if (origin.then === 'ask') out.then = 'ask';
  if (typeof origin.prompt === 'string') out.prompt = origin.prompt;
  return out;
}
