import { describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import {
  buildCaptionPayload,
  CAPTION_DETAILS,
  captionOptionsOf,
  MAX_CAPTION_QUESTION_CHARS,
  parseCaptionOptions,
  parseCaptionPayload,
} from '../../src/jobs/caption.js';
import {
  awaitsCaption,
  buildChatPayload,
  chatPayloadOf,
  chatQuestionOf,
  MAX_ASK_CHARS,
  parseAskQuestion,
  parseChatPayload,
  toJson,
  withImageContext,
} from '../../src/jobs/chat.js';

const ask = (content: string, extra: Record<string, Json> = {}): Json => ({ messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content }], ...extra });

describe('chat job contract', () => {
  it('takes a payload with its question, context and awaited captions', () => {
    const payload = { ...(ask('hi') as Record<string, Json>), maxTokens: 40, question: 'hi', context: [], awaiting: ['c1'] };
    expect(parseChatPayload(payload, { maxTokens: 40 })).toEqual({ ok: true, value: payload });
  });

  it('refuses each bad option naming it, what was given and what is allowed', () => {
    const fail = (json: Json, maxTokens = 40) => {
      const r = parseChatPayload(json, { maxTokens });
      if (r.ok) throw new Error('expected a refusal');
      return r.error;
    };
    expect(fail(ask('x', { maxTokens: 41 }))).toEqual({
      code: 'INVALID_INPUT',
      message: 'maxTokens must be an integer between 1 and 40; got 41',
      facts: { option: 'maxTokens', given: 41, allowed: '1–40' },
    });
    expect(fail(ask('x', { temperature: 5 })).facts).toEqual({ option: 'temperature', given: 5, allowed: '0–2' });
    expect(fail(ask('x', { topP: 0 })).facts).toEqual({ option: 'topP', given: 0, allowed: '0.01–1' });
    const role = fail({ messages: [{ role: 'wizard', content: 'x' }] });
    expect(role.message).toBe('messages[0].role must be one of system, user, assistant; got "wizard"');
    expect(role.facts).toEqual({ option: 'messages[0].role', given: 'wizard', allowed: ['system', 'user', 'assistant'] });
    expect(fail({ messages: [{ role: 'assistant', content: 'no question' }] }).facts).toEqual({ option: 'messages[0].role', given: 'assistant', allowed: 'user' });
    expect(fail({ messages: [{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }, { role: 'user', content: 'c' }] }).message).toBe(
      'only the first message may be a system message; messages[1] is one',
    );
    expect(fail({ messages: 'hello' }).facts).toMatchObject({ option: 'messages', given: 'hello' });
    expect(fail({ messages: [] }).facts).toMatchObject({ option: 'messages' });
    expect(fail(null).facts).toMatchObject({ option: 'payload' });
  });

  it('checks an /ask question: trimmed, not empty, at most MAX_ASK_CHARS characters', () => {
    expect(parseAskQuestion('  hi  ')).toEqual({ ok: true, value: 'hi' });
    expect(parseAskQuestion('   ')).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', facts: { option: 'prompt', given: 0 } } });
    expect(parseAskQuestion('a'.repeat(MAX_ASK_CHARS)).ok).toBe(true);
    expect(parseAskQuestion('a'.repeat(MAX_ASK_CHARS + 1))).toEqual({
      ok: false,
      error: {
        code: 'PROMPT_TOO_LONG',
        message: `your question is ${MAX_ASK_CHARS + 1} characters; the limit is ${MAX_ASK_CHARS}`,
        facts: { option: 'prompt', given: MAX_ASK_CHARS + 1, allowed: MAX_ASK_CHARS },
      },
    });
  });

  it('builds an /ask payload with the question last, and the image context goes before it', () => {
    const built = buildChatPayload({ system: 'sys', history: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }], question: ' why? ', maxTokens: 64, awaiting: ['c1', 'c2'] });
    if (!built.ok) throw new Error(built.error.message);
    expect(built.value.messages.map((m) => m.content)).toEqual(['sys', 'a', 'b', 'why?']);
    expect(built.value).toMatchObject({ question: 'why?', maxTokens: 64, context: [], awaiting: ['c1', 'c2'] });
    const job = { kind: 'chat' as const, payload: toJson(built.value) };
    expect(chatPayloadOf(job)).toEqual(built.value);
    expect(chatQuestionOf(job)).toBe('why?');
    expect(chatQuestionOf({ kind: 'image', payload: job.payload })).toBeUndefined();
    expect(awaitsCaption(built.value, 'c1')).toBe(true);

    const next = withImageContext(built.value, 'c1', '[an image of a cat]');
    expect(next.messages.map((m) => m.content)).toEqual(['sys', 'a', 'b', '[an image of a cat]', 'why?']);
    expect(next.context).toEqual(['[an image of a cat]']);
    expect(next.awaiting).toEqual(['c2']);
    expect(awaitsCaption(next, 'c1')).toBe(false);
    expect(parseChatPayload(toJson(next)).ok).toBe(true);
  });
});

describe('caption job contract', () => {
  it('takes one image source, a trimmed question and a detail level', () => {
    expect(parseCaptionPayload({ imageBase64: 'AA AA', question: ' why? ', detail: 'detailed', declaredType: 'image/png' })).toEqual({
      ok: true,
      value: { imageBase64: 'AAAA', question: 'why?', detail: 'detailed', declaredType: 'image/png' },
    });
    expect(parseCaptionPayload({ imagePath: '/data/a.png', question: '   ', detail: null })).toEqual({ ok: true, value: { imagePath: '/data/a.png', detail: 'short' } });
  });

  it('refuses each bad option naming it, what was given and what is allowed', () => {
    const fail = (json: Json, maxQuestionChars?: number) => {
      const r = parseCaptionPayload(json, maxQuestionChars === undefined ? {} : { maxQuestionChars });
      if (r.ok) throw new Error('expected a refusal');
      return r.error;
    };
    expect(fail({ imageBase64: 'AAAA', imagePath: '/a.png' })).toEqual({
      code: 'INVALID_INPUT',
      message: 'give exactly one image source (imageBase64 or imagePath); got 2',
      facts: { option: 'image', given: 2, allowed: 1 },
    });
    expect(fail({}).facts).toEqual({ option: 'image', given: 0, allowed: 1 });
    expect(fail({ imageBase64: 'AAAA', detail: 'huge' }).facts).toEqual({ option: 'detail', given: 'huge', allowed: [...CAPTION_DETAILS] });
    expect(fail({ imagePath: 'relative.png' }).facts).toEqual({ option: 'imagePath', given: 'relative.png', allowed: 'an absolute path' });
    expect(fail({ imageBase64: 'not base64!' }).message).toBe('imageBase64 is not base64');
    expect(fail({ imageBase64: 'AAAA', question: 'x'.repeat(11) }, 10)).toEqual({
      code: 'PROMPT_TOO_LONG',
      message: 'the question is 11 characters; the limit is 10',
      facts: { option: 'question', given: 11, allowed: 10 },
    });
  });

  it('checks the options a person gives before any download, and builds the payload from the bytes', () => {
    expect(parseCaptionOptions({})).toEqual({ ok: true, value: { detail: 'short' } });
    expect(parseCaptionOptions({ question: 'q'.repeat(MAX_CAPTION_QUESTION_CHARS) }).ok).toBe(true);
    expect(parseCaptionOptions({ question: 'q'.repeat(MAX_CAPTION_QUESTION_CHARS + 1) })).toMatchObject({ ok: false, error: { code: 'PROMPT_TOO_LONG', facts: { option: 'question' } } });
    expect(parseCaptionOptions({ question: 5 })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', facts: { option: 'question', given: 5 } } });
    const built = buildCaptionPayload({ bytes: new Uint8Array([1, 2, 3]), declaredType: 'image/png' }, { question: 'what?', detail: 'detailed' });
    expect(built).toEqual({ ok: true, value: { imageBase64: 'AQID', declaredType: 'image/png', question: 'what?', detail: 'detailed' } });
    if (!built.ok) return;
    expect(captionOptionsOf({ kind: 'caption', payload: { ...built.value } })).toEqual({ question: 'what?', detail: 'detailed' });
    expect(captionOptionsOf({ kind: 'chat', payload: { ...built.value } })).toBeUndefined();
  });
});
