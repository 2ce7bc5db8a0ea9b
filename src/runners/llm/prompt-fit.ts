/**
 * The chat job's payload (validated) and fitting a conversation into the context window.
 * Token counting is passed in, so this file knows nothing about the model library.
 */
import { HearthError, type Json } from '../../engine/types.js';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** A chat job's payload. The last message is the new question; a leading system message is the system prompt. */
export interface ChatPayload {
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  repeatPenalty?: number;
}

export interface ChatPayloadLimits {
  /** Largest `maxTokens` a job may ask for (the configured `models.chat.maxTokens`). */
  maxTokens: number;
  /** Most messages in one payload. */
  maxMessages: number;
  /** Most characters in one message. */
  maxMessageChars: number;
}

export const DEFAULT_PAYLOAD_LIMITS: Omit<ChatPayloadLimits, 'maxTokens'> = {
  maxMessages: 1000,
  maxMessageChars: 200_000,
};

/** Sampling limits; a value outside them is an INVALID_INPUT naming the range. */
export const SAMPLING_RANGES = {
  temperature: { min: 0, max: 2 },
  topP: { min: 0.01, max: 1 },
  repeatPenalty: { min: 1, max: 2 },
} as const;

const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];

function bad(message: string, facts: Record<string, Json>): HearthError {
  return new HearthError('INVALID_INPUT', message, facts);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function numberIn(payload: Record<string, Json>, key: keyof typeof SAMPLING_RANGES): number | undefined {
  const v = payload[key];
  if (v === undefined || v === null) return undefined;
  const { min, max } = SAMPLING_RANGES[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw bad(`${key} must be a number between ${min} and ${max}; got ${describe(v)}`, { field: key, min, max, given: v });
  return v;
}

/** Validates a chat payload. Throws HearthError INVALID_INPUT with the field, the limit and what was given. */
export function parseChatPayload(payload: Json, limits: ChatPayloadLimits): ChatPayload {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    throw bad(`the chat payload must be an object with messages; got ${describe(payload)}`, { field: 'payload' });
  const raw = payload.messages;
  if (!Array.isArray(raw) || raw.length === 0)
    throw bad(`messages must be a non-empty array; got ${describe(raw)}`, { field: 'messages' });
  if (raw.length > limits.maxMessages)
    throw bad(`messages must hold at most ${limits.maxMessages} messages; got ${raw.length}`, {
      field: 'messages',
      max: limits.maxMessages,
      given: raw.length,
    });
  const messages: ChatMessage[] = raw.map((m, i) => {
    if (m === null || typeof m !== 'object' || Array.isArray(m))
      throw bad(`messages[${i}] must be an object with role and content; got ${describe(m)}`, { field: `messages[${i}]` });
    const { role, content } = m;
    if (typeof role !== 'string' || !ROLES.includes(role as ChatRole))
      throw bad(`messages[${i}].role must be one of ${ROLES.join(', ')}; got ${describe(role)}`, {
        field: `messages[${i}].role`,
        allowed: [...ROLES],
        given: typeof role === 'string' ? role : null,
      });
    if (typeof content !== 'string')
      throw bad(`messages[${i}].content must be a string; got ${describe(content)}`, { field: `messages[${i}].content` });
    if (content.length > limits.maxMessageChars)
      throw bad(`messages[${i}].content must be at most ${limits.maxMessageChars} characters; got ${content.length}`, {
        field: `messages[${i}].content`,
        max: limits.maxMessageChars,
        given: content.length,
      });
    if (role === 'system' && i !== 0)
      throw bad(`only the first message may be a system message; messages[${i}] is one`, { field: `messages[${i}].role` });
    return { role: role as ChatRole, content };
  });
  const last = messages[messages.length - 1] as ChatMessage;
  if (last.role !== 'user')
    throw bad(`the last message must be the user's question; it is a ${last.role} message`, {
      field: `messages[${messages.length - 1}].role`,
      given: last.role,
    });

  const result: ChatPayload = { messages };
  const maxTokens = payload.maxTokens;
  if (maxTokens !== undefined && maxTokens !== null) {
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > limits.maxTokens)
      throw bad(`maxTokens must be an integer between 1 and ${limits.maxTokens}; got ${describe(maxTokens)}`, {
        field: 'maxTokens',
        min: 1,
        max: limits.maxTokens,
        given: maxTokens,
      });
    result.maxTokens = maxTokens;
  }
  const temperature = numberIn(payload, 'temperature');
  if (temperature !== undefined) result.temperature = temperature;
  const topP = numberIn(payload, 'topP');
  if (topP !== undefined) result.topP = topP;
  const repeatPenalty = numberIn(payload, 'repeatPenalty');
  if (repeatPenalty !== undefined) result.repeatPenalty = repeatPenalty;
  return result;
}

export interface FitOptions {
  /** Tokens the sequence holds (prompt + answer). */
  contextSize: number;
  /** Tokens reserved for the answer. */
  maxTokens: number;
  /** Tokens of the whole rendered prompt (template, system prompt, turns, generation prefix). */
  countPromptTokens: (messages: readonly ChatMessage[]) => number;
  /** Tokens of one message's text alone. */
  countTextTokens: (text: string) => number;
}

export interface FittedPrompt {
  messages: ChatMessage[];
  promptTokens: number;
  /** Messages left out (the oldest turns). */
  dropped: number;
}

/**
 * Drops the oldest turns until the prompt plus `maxTokens` fits the context; never the system
 * prompt, never the newest question. Whole turns go: the kept history after the system prompt
 * starts with a user message (some templates insist that roles alternate).
 * Throws PROMPT_TOO_LONG when the newest question does not fit even alone.
 */
export function fitChatHistory(messages: readonly ChatMessage[], opts: FitOptions): FittedPrompt {
  const budget = opts.contextSize - opts.maxTokens;
  const hasSystem = messages[0]?.role === 'system';
  const head = hasSystem ? [messages[0] as ChatMessage] : [];
  const newest = messages[messages.length - 1] as ChatMessage;
  const middle = messages.slice(head.length, messages.length - 1);

  // Candidate start points in `middle`: each user message, and "none" (middle.length).
  const starts: number[] = [];
  for (let i = 0; i < middle.length; i++) if (middle[i]?.role === 'user' || i === 0) starts.push(i);
  starts.push(middle.length);

  const build = (start: number): ChatMessage[] => [...head, ...middle.slice(start), newest];
  const cache = new Map<number, number>();
  const count = (start: number): number => {
    let n = cache.get(start);
    if (n === undefined) {
      n = opts.countPromptTokens(build(start));
      cache.set(start, n);
    }
    return n;
  };

  // Fewer kept turns never means more tokens, so the first start that fits can be found by bisection.
  let lo = 0;
  let hi = starts.length - 1;
  if (count(starts[hi] as number) > budget) {
    const given = opts.countTextTokens(newest.content);
    const overhead = count(starts[hi] as number) - given;
    const allowed = Math.max(0, budget - overhead);
    throw new HearthError('PROMPT_TOO_LONG', `your message is ${given} tokens; the model takes at most ${allowed}`, { given, allowed });
  }
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (count(starts[mid] as number) <= budget) hi = mid;
    else lo = mid + 1;
  }
  const start = starts[lo] as number;
  return { messages: build(start), promptTokens: count(start), dropped: start };
}
