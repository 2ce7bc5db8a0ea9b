/**
 * The chat job's payload (checked by the chat job's contract, src/jobs/chat.ts) and fitting a
 * conversation into the context window.
 * Token counting is passed in, so this file knows nothing about the model library.
 */
import { HearthError, type Json } from '../../engine/types.js';
import { DEFAULT_CHAT_LIMITS, parseChatPayload as parseContract, type ChatLimits, type ChatMessage, type ChatPayload } from '../../jobs/chat.js';

export type { ChatMessage, ChatPayload, ChatRole } from '../../jobs/chat.js';
export { SAMPLING_RANGES } from '../../jobs/chat.js';

/** What a chat payload is held to in the runner (the job contract's limits). */
export type ChatPayloadLimits = ChatLimits;

export const DEFAULT_PAYLOAD_LIMITS: Omit<ChatPayloadLimits, 'maxTokens'> = {
  maxMessages: DEFAULT_CHAT_LIMITS.maxMessages,
  maxMessageChars: DEFAULT_CHAT_LIMITS.maxMessageChars,
};

/** Validates a chat payload by the chat job's contract. Throws HearthError INVALID_INPUT naming the option, what was given and what is allowed. */
export function parseChatPayload(payload: Json, limits: ChatPayloadLimits): ChatPayload {
  const parsed = parseContract(payload, limits);
  if (!parsed.ok) throw HearthError.from(parsed.error);
  return parsed.value;
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
