/**
 * The chat job (/ask): its payload, its limits, and the one check that commands, the runner and the
 * adapters share; also how an image's description joins a chat that waits for it.
 *
 * The payload carries the whole prompt (system prompt, the conversation's history, the question)
 * so the job runs the same after a restart, plus the question as asked (the conversation records
 * it), the image descriptions given to it, and the caption jobs it still waits for.
 */
import { z } from 'zod';
import type { JobKind, Json, Result } from '../engine/types.js';
import { chars, describe, isRecord, parseWith, refuse, type IssueParams, type Refusal } from './contract.js';

export const CHAT_ROLES = ['system', 'user', 'assistant'] as const;
export type ChatRole = (typeof CHAT_ROLES)[number];

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** A message of the workspace that the answer was given (workspace knowledge), shown under the answer as a link. */
export interface ChatSource {
  url: string;
  /** Who wrote it (a name, or the platform's user id). */
  author: string;
  /** When, in epoch milliseconds. */
  at: number;
  /** The platform's channel id. */
  channel: string;
}

/** Longest /ask question, in characters. */
export const MAX_ASK_CHARS = 6000;
/** How far `models.chat.maxTokens` (and a job's own) may be set. */
export const MAX_TOKENS_BOUNDS = { min: 1, max: 32_768 } as const;
/** Sampling limits, for `models.chat.*` and a job's own overrides. */
export const SAMPLING_RANGES = {
  temperature: { min: 0, max: 2 },
  topP: { min: 0.01, max: 1 },
  repeatPenalty: { min: 1, max: 2 },
} as const;

/** What one chat payload is held to. */
export interface ChatLimits {
  /** Largest `maxTokens` a job may ask for (the configured `models.chat.maxTokens`). */
  maxTokens: number;
  /** Most messages in one payload (history included). */
  maxMessages: number;
  /** Most characters in one message (a sanity bound: the context window is the real one). */
  maxMessageChars: number;
}

export const DEFAULT_CHAT_LIMITS: Readonly<ChatLimits> = { maxTokens: MAX_TOKENS_BOUNDS.max, maxMessages: 1000, maxMessageChars: 200_000 };

/** A chat job's payload. The last message is the new question; a leading system message is the system prompt. */
export interface ChatPayload {
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  repeatPenalty?: number;
  /** The question as the person asked it: the conversation records it when the answer comes. */
  question?: string;
  /** Descriptions of the question's images, as given to the model (they are also in `messages`). */
  context?: string[];
  /** Caption jobs describing the question's images that have not ended yet. */
  awaiting?: string[];
  /** The conversation the turn belongs to: the runner keeps its evaluated tokens for the next turn. */
  conversationId?: string;
  /** Indexed workspace messages given to the model (they are also in `messages`): the answer lists them. */
  sources?: ChatSource[];
  /** The LoRA adapter (a name of `models.chat.adapters`) to answer with; the base model when unset. */
  adapter?: string;
}

function allowedOf(limits: Readonly<ChatLimits>) {
  return (option: string): Json => {
    if (/^messages\[\d+\]\.role$/.test(option)) return [...CHAT_ROLES];
    if (/^messages\[\d+\]\.content$/.test(option)) return `text of at most ${limits.maxMessageChars} characters`;
    if (/^messages\[\d+\]$/.test(option)) return 'an object with role and content';
    switch (option) {
      case 'messages':
        return `1–${limits.maxMessages} messages, the last one the user's question`;
      case 'maxTokens':
        return `1–${limits.maxTokens}`;
      case 'temperature':
      case 'topP':
      case 'repeatPenalty':
        return `${SAMPLING_RANGES[option].min}–${SAMPLING_RANGES[option].max}`;
      case 'question':
      case 'conversationId':
        return 'text';
      case 'adapter':
        return 'the name of a configured adapter (models.chat.adapters)';
      case 'context':
      case 'awaiting':
        return 'a list of text';
      case 'sources':
        return 'a list of { url, author, at, channel }';
      default:
        return 'an object with messages';
    }
  };
}

function sampling(key: keyof typeof SAMPLING_RANGES) {
  const { min, max } = SAMPLING_RANGES[key];
  const error = (iss: { input?: unknown }) => `${key} must be a number between ${min} and ${max}; got ${describe(iss.input)}`;
  return z.number({ error }).min(min, { error }).max(max, { error }).optional();
}

/** The chat payload's zod schema for one model's limits. */
export function chatPayloadSchema(limits: Readonly<ChatLimits> = DEFAULT_CHAT_LIMITS) {
  const message = z.object(
    {
      role: z.enum(CHAT_ROLES, { error: (iss) => `${where(iss)}.role must be one of ${CHAT_ROLES.join(', ')}; got ${describe(iss.input)}` }),
      content: z
        .string({ error: (iss) => `${where(iss)}.content must be a string; got ${describe(iss.input)}` })
        .max(limits.maxMessageChars, { error: (iss) => `${where(iss)}.content must be at most ${limits.maxMessageChars} characters; got ${String(iss.input).length}` }),
    },
    { error: (iss) => `${where(iss)} must be an object with role and content; got ${describe(iss.input)}` },
  );
  const messagesError = (iss: { input?: unknown }) => `messages must be a non-empty array; got ${describe(iss.input)}`;
  const maxTokensError = (iss: { input?: unknown }) => `maxTokens must be an integer between 1 and ${limits.maxTokens}; got ${describe(iss.input)}`;
  const textList = (name: string) => z.array(z.string(), { error: (iss) => `${name} must be a list of text; got ${describe(iss.input)}` }).optional();
  return z
    .object(
      {
        messages: z
          .array(message, { error: messagesError })
          .min(1, { error: messagesError })
          .max(limits.maxMessages, { error: (iss) => `messages must hold at most ${limits.maxMessages} messages; got ${Array.isArray(iss.input) ? iss.input.length : '?'}` }),
        maxTokens: z.number({ error: maxTokensError }).int({ error: maxTokensError }).min(1, { error: maxTokensError }).max(limits.maxTokens, { error: maxTokensError }).optional(),
        temperature: sampling('temperature'),
        topP: sampling('topP'),
        repeatPenalty: sampling('repeatPenalty'),
        question: z.string({ error: (iss) => `question must be text; got ${describe(iss.input)}` }).optional(),
        context: textList('context'),
        awaiting: textList('awaiting'),
        conversationId: z.string({ error: (iss) => `conversationId must be text; got ${describe(iss.input)}` }).optional(),
        adapter: z.string({ error: (iss) => `adapter must be the name of an adapter; got ${describe(iss.input)}` }).min(1, { error: 'adapter must not be empty' }).optional(),
        sources: z
          .array(z.object({ url: z.string(), author: z.string(), at: z.number(), channel: z.string() }), {
            error: (iss) => `sources must be a list of { url, author, at, channel }; got ${describe(iss.input)}`,
          })
          .optional(),
      },
      { error: (iss) => `the chat payload must be an object with messages; got ${describe(iss.input)}` },
    )
    .superRefine((p, ctx) => {
      const system = p.messages.findIndex((m, i) => m.role === 'system' && i !== 0);
      if (system > 0) {
        ctx.addIssue({ code: 'custom', path: ['messages', system, 'role'], input: 'system', message: `only the first message may be a system message; messages[${system}] is one` });
        return;
      }
      const last = p.messages.length - 1;
      const role = p.messages[last]?.role;
      if (role !== 'user') {
        const params: IssueParams = { allowed: 'user' };
        ctx.addIssue({ code: 'custom', path: ['messages', last, 'role'], input: role, params, message: `the last message must be the user's question; it is a ${String(role)} message` });
      }
    });
}

/** `messages[3]`, from the path of an issue inside a message. */
function where(iss: { path?: PropertyKey[] | undefined }): string {
  const i = iss.path?.find((p) => typeof p === 'number');
  return i === undefined ? 'a message' : `messages[${String(i)}]`;
}

/** Only the keys that are there: a payload stays the JSON it was (exactOptionalPropertyTypes). */
function compact(p: { [K in keyof ChatPayload]: ChatPayload[K] | undefined }): ChatPayload {
  const out: ChatPayload = { messages: p.messages ?? [] };
  for (const key of ['maxTokens', 'temperature', 'topP', 'repeatPenalty'] as const) {
    const v = p[key];
    if (v !== undefined) out[key] = v;
  }
  if (p.question !== undefined) out.question = p.question;
  if (p.context !== undefined) out.context = p.context;
  if (p.awaiting !== undefined) out.awaiting = p.awaiting;
  if (p.conversationId !== undefined) out.conversationId = p.conversationId;
  if (p.sources !== undefined) out.sources = p.sources;
  if (p.adapter !== undefined) out.adapter = p.adapter;
  return out;
}

/**
 * Checks a chat payload: 1..maxMessages messages of known roles (a system message only first, the
 * user's question last), maxTokens and sampling overrides within their ranges. Refuses with
 * INVALID_INPUT whose facts name the option (`messages[2].role`), what was given and what is allowed.
 */
export function parseChatPayload(json: Json, limits: Partial<ChatLimits> = {}): Result<ChatPayload, Refusal> {
  const all: ChatLimits = { ...DEFAULT_CHAT_LIMITS, ...limits };
  // Null is "not given", as everywhere in payloads.
  const input = isRecord(json) ? Object.fromEntries(Object.entries(json).filter(([, v]) => v !== null)) : json;
  const parsed = parseWith(chatPayloadSchema(all), input, allowedOf(all));
  return parsed.ok ? { ok: true, value: compact(parsed.value) } : parsed;
}

/** An /ask question: trimmed, not empty, at most {@link MAX_ASK_CHARS} characters (PROMPT_TOO_LONG). */
export function parseAskQuestion(prompt: unknown): Result<string, Refusal> {
  if (typeof prompt !== 'string') return refuse('INVALID_INPUT', 'prompt', `your question must be text; got ${describe(prompt)}`, prompt, `1–${MAX_ASK_CHARS} characters`);
  const q = prompt.trim();
  if (q === '') return refuse('INVALID_INPUT', 'prompt', 'your question is empty; type something after /ask', 0, `1–${MAX_ASK_CHARS} characters`);
  const n = chars(q);
  if (n > MAX_ASK_CHARS) return refuse('PROMPT_TOO_LONG', 'prompt', `your question is ${n} characters; the limit is ${MAX_ASK_CHARS}`, n, MAX_ASK_CHARS);
  return { ok: true, value: q };
}

/** What a command puts into a chat job. */
export interface ChatBuildInput {
  system: string;
  /** The conversation so far, oldest first. */
  history: readonly ChatMessage[];
  /** The question as asked; checked with {@link parseAskQuestion}. */
  question: string;
  maxTokens: number;
  /** Caption jobs of the question's images, queued before the chat. */
  awaiting?: readonly string[];
  /** The conversation of the turn (lets the runner reuse the conversation's evaluated tokens). */
  conversationId?: string;
  /** Workspace messages given to the model (in `history`), listed under the answer. */
  sources?: readonly ChatSource[];
  /** The LoRA adapter to answer with (checked against the configured names by the command). */
  adapter?: string;
}

/** The payload of an /ask: the system prompt, the history, the question last; checked as the runner will. */
export function buildChatPayload(input: ChatBuildInput): Result<ChatPayload, Refusal> {
  const question = parseAskQuestion(input.question);
  if (!question.ok) return question;
  const payload: ChatPayload = {
    messages: [{ role: 'system', content: input.system }, ...input.history, { role: 'user', content: question.value }],
    maxTokens: input.maxTokens,
    question: question.value,
    context: [],
    ...(input.awaiting && input.awaiting.length > 0 ? { awaiting: [...input.awaiting] } : {}),
    ...(input.conversationId ? { conversationId: input.conversationId } : {}),
    ...(input.sources && input.sources.length > 0 ? { sources: input.sources.map((x) => ({ ...x })) } : {}),
    ...(input.adapter !== undefined ? { adapter: input.adapter } : {}),
  };
  return parseChatPayload(toJson(payload), { maxTokens: Math.max(input.maxTokens, 1) });
}

/** Engine steps of a chat job: the prompt, then a step per `tokensPerStep` tokens of the answer. */
export function chatJobSteps(maxTokens: number, tokensPerStep: number): number {
  return 1 + Math.ceil(maxTokens / tokensPerStep);
}

/** The payload of a chat job, typed; undefined for another kind or a payload that is not one. */
export function chatPayloadOf(job: { kind: JobKind; payload: Json }): ChatPayload | undefined {
  if (job.kind !== 'chat') return undefined;
  const parsed = parseChatPayload(job.payload);
  return parsed.ok ? parsed.value : undefined;
}

/** The question of a chat job as its owner asked it (what adapters show and the conversation records). */
export function chatQuestionOf(job: { kind: JobKind; payload: Json }): string | undefined {
  if (job.kind !== 'chat' || !isRecord(job.payload)) return undefined;
  // Read alone: the whole payload may be a long history, and the question is all that is wanted.
  const q = job.payload.question;
  return typeof q === 'string' ? q : undefined;
}

/** True when the chat waits for the description of the caption job `captionJobId`. */
export function awaitsCaption(payload: ChatPayload, captionJobId: string): boolean {
  return payload.awaiting?.includes(captionJobId) ?? false;
}

/**
 * The chat once caption job `captionJobId` has ended: its context (a description, or why the image
 * could not be read) goes before the question, which stays last, and the chat no longer waits for it.
 */
export function withImageContext(payload: ChatPayload, captionJobId: string, context: string): ChatPayload {
  const messages = [...payload.messages];
  messages.splice(Math.max(1, messages.length - 1), 0, { role: 'user', content: context });
  const awaiting = (payload.awaiting ?? []).filter((id) => id !== captionJobId);
  return { ...payload, messages, context: [...(payload.context ?? []), context], awaiting };
}

/** A payload as the JSON the engine stores. */
export function toJson(payload: ChatPayload): Json {
  const out: { [key: string]: Json } = { messages: payload.messages.map((m) => ({ role: m.role, content: m.content })) };
  for (const key of ['maxTokens', 'temperature', 'topP', 'repeatPenalty', 'question', 'conversationId', 'adapter'] as const) {
    const v = payload[key];
    if (v !== undefined) out[key] = v;
  }
  if (payload.context !== undefined) out.context = [...payload.context];
  if (payload.awaiting !== undefined) out.awaiting = [...payload.awaiting];
  if (payload.sources !== undefined) out.sources = payload.sources.map((x) => ({ url: x.url, author: x.author, at: x.at, channel: x.channel }));
  return out;
}
