/**
 * The error vocabulary: every code worded on every face, the one conversion from anything thrown,
 * facts typed per code (checked by the compiler), and the worker protocol checking the same codes.
 */
import { describe, expect, it } from 'vitest';
import { problemText } from '../../src/bots/discord/words.js';
import { slackErrorText } from '../../src/bots/slack/error-text.js';
import { errorBody, statusFor } from '../../src/bots/web/http.js';
import { errorText } from '../../src/commands/wording.js';
import { ERROR_CODES, fault, HearthError, messageOf, toErrorInfo, type ErrorCode, type ErrorInfo, type ErrorInfoOf } from '../../src/engine/types.js';
import { errorInfoSchema } from '../../src/worker/protocol.js';

/** One error of every code, as its producers make it. A mapped type: a new code does not compile until it is here. */
const SAMPLES: { [C in ErrorCode]: ErrorInfoOf<C> } = {
  QUEUE_FULL: { code: 'QUEUE_FULL', message: 'you already have 3 jobs queued or running; the limit is 3', facts: { given: 4, allowed: 3 } },
  DAILY_LIMIT: { code: 'DAILY_LIMIT', message: 'you have used 600 of your 600 GPU-seconds today', facts: { given: 600, allowed: 600 } },
  INVALID_INPUT: { code: 'INVALID_INPUT', message: 'steps must be a whole number from 1 to 60; got 80', facts: { option: 'steps', given: 80, allowed: '1–60' } },
  PROMPT_TOO_LONG: { code: 'PROMPT_TOO_LONG', message: 'prompt must be at most 6000 characters; got 6001', facts: { option: 'prompt', given: 6001, allowed: 6000 } },
  MODEL_MISSING: { code: 'MODEL_MISSING', message: 'no chat model is configured (models.chat.path)', facts: { given: 'chat' } },
  MODEL_INVALID: { code: 'MODEL_INVALID', message: '/m/x.gguf: expected GGUF version 2 or 3; found 9', facts: { path: '/m/x.gguf', expected: '2 or 3', found: 9 } },
  MODEL_TOO_LARGE: { code: 'MODEL_TOO_LARGE', message: '/m/x.gguf does not fit in memory', facts: { path: '/m/x.gguf' } },
  WORKER_CRASHED: { code: 'WORKER_CRASHED', message: 'this job stopped the GPU worker twice, so it was not tried again', facts: { crashes: 2, reason: 'exit 134' } },
  RUNNER_FAILED: { code: 'RUNNER_FAILED', message: 'the chat model "chat" is not loaded', facts: { model: 'chat', kind: 'chat', loaded: false } },
  ABORTED: { code: 'ABORTED', message: 'This operation was aborted', facts: { reason: 'This operation was aborted' } },
  TIMED_OUT: { code: 'TIMED_OUT', message: 'The operation was aborted due to timeout' },
  NOT_FOUND: { code: 'NOT_FOUND', message: 'there is no job j1', facts: { given: 'j1' } },
  ALREADY_ENDED: { code: 'ALREADY_ENDED', message: 'job j1 has already ended (cancelled)', facts: { jobId: 'j1', kind: 'image', state: 'cancelled' } },
  FORBIDDEN: { code: 'FORBIDDEN', message: 'only the job owner or an admin can cancel it', facts: { given: 'j1' } },
  SHUTTING_DOWN: { code: 'SHUTTING_DOWN', message: 'hearth is shutting down; try again in a minute' },
  IMAGE_INVALID: { code: 'IMAGE_INVALID', message: 'file is text, not a supported image; expected PNG, JPEG, GIF or WebP', facts: { detectedType: 'text' } },
  IMAGE_TOO_LARGE: { code: 'IMAGE_TOO_LARGE', message: 'the image is 11 MB; the limit is 10 MB', facts: { given: 11, allowed: 10 } },
  DOWNLOAD_FAILED: { code: 'DOWNLOAD_FAILED', message: 'download from cdn.example failed with HTTP 404', facts: { status: 404 } },
  HOST_NOT_ALLOWED: { code: 'HOST_NOT_ALLOWED', message: 'downloads from evil.example are not allowed', facts: { host: 'evil.example', allowedHosts: ['cdn.discordapp.com'], hop: 0 } },
};
const samples: ErrorInfo[] = Object.values(SAMPLES);

const FACES: Array<[string, (e: ErrorInfo) => string]> = [
  ['shared (console)', (e) => errorText(e)],
  ['console body', (e) => errorBody(e).error.message],
  ['Discord', problemText],
  ['Slack', slackErrorText],
];

describe('error codes', () => {
  it('are listed once each, and every one has a sample here', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(Object.keys(SAMPLES).sort()).toEqual([...ERROR_CODES].sort());
  });

  it.each(FACES)('every code has plain words on the %s face (no placeholder, no stack)', (_face, words) => {
    for (const e of samples) {
      const text = words(e);
      expect(text, e.code).toMatch(/^[A-Z"'`hT]/);
      expect(text, e.code).not.toMatch(/undefined|\[object|NaN|\bat .*\.ts:\d+/);
      expect(text.length, e.code).toBeGreaterThan(10);
    }
  });

  it('words the facts it reads, typed', () => {
    expect(errorText(SAMPLES.QUEUE_FULL)).toContain('You already have 3 jobs waiting or running (the limit is 3)');
    expect(slackErrorText(SAMPLES.QUEUE_FULL)).toContain('`/hearth cancel` or the Cancel button');
    expect(errorText(SAMPLES.DAILY_LIMIT)).toContain('600 of 600 GPU-seconds');
  });

  it('are decided once: the faces differ only in their own ways of doing things', () => {
    const sameEverywhere = samples.filter((e) => e.code !== 'QUEUE_FULL' && e.code !== 'HOST_NOT_ALLOWED');
    for (const e of sameEverywhere) {
      expect(problemText(e), e.code).toBe(errorText(e));
      expect(slackErrorText(e), e.code).toBe(errorText(e));
    }
    expect(problemText(SAMPLES.QUEUE_FULL)).toContain('cancel one with /cancel.');
    expect(problemText(SAMPLES.HOST_NOT_ALLOWED)).toBe('hearth only downloads images from Discord’s own file servers. Attach the image to your message instead of linking it.');
    expect(slackErrorText(SAMPLES.HOST_NOT_ALLOWED)).toBe('Downloads from evil.example are not allowed.');
    expect(errorText(SAMPLES.MODEL_MISSING)).toBe("That isn't set up on this hearth yet: no chat model is configured (models.chat.path). An admin can add it to the config and run `hearth models pull`.");
  });

  it('tells a job that has ended by how it ended, not as missing', () => {
    expect(problemText(SAMPLES.ALREADY_ENDED)).toBe('That image has already ended.');
    const done = fault('ALREADY_ENDED', 'job j2 has already ended (done)', { jobId: 'j2', kind: 'chat', state: 'done' });
    expect(problemText(done)).toBe('That answer has already finished.');
    // One wording on every face (it was "That chat job…" on Slack and the console).
    expect(slackErrorText(done)).toBe('That answer has already finished.');
    expect(errorText(done)).toBe('That answer has already finished.');
    expect(statusFor('ALREADY_ENDED')).toBe(409);
    expect(statusFor('NOT_FOUND')).toBe(404);
  });
});

describe('toErrorInfo', () => {
  it('keeps a HearthError as it is: code, message and facts', () => {
    const e = new HearthError('PROMPT_TOO_LONG', 'your message is 900 tokens; the model takes at most 512', { given: 900, allowed: 512 });
    expect(toErrorInfo(e)).toEqual({ code: 'PROMPT_TOO_LONG', message: 'your message is 900 tokens; the model takes at most 512', facts: { given: 900, allowed: 512 } });
    // A source names where a foreign error came from; a HearthError already says it.
    expect(toErrorInfo(e, { source: 'ONNX Runtime' }).message).toBe(e.message);
  });

  it('names an abort and a timeout', async () => {
    const aborted = new AbortController();
    aborted.abort();
    expect(toErrorInfo(aborted.signal.reason)).toMatchObject({ code: 'ABORTED', message: 'This operation was aborted' });
    const timeout = AbortSignal.timeout(1);
    await new Promise((resolve) => timeout.addEventListener('abort', resolve));
    expect(toErrorInfo(timeout.reason)).toMatchObject({ code: 'TIMED_OUT' });
    // An Error named AbortError (as libraries throw their own) is an abort too.
    const own = Object.assign(new Error('stopped'), { name: 'AbortError' });
    expect(toErrorInfo(own)).toEqual({ code: 'ABORTED', message: 'stopped', facts: { reason: 'stopped' } });
  });

  it('turns anything else into RUNNER_FAILED with plain words, never a stack', () => {
    const e = new TypeError('cannot read properties of undefined');
    const info = toErrorInfo(e);
    expect(info).toEqual({ code: 'RUNNER_FAILED', message: 'cannot read properties of undefined' });
    expect(JSON.stringify(info)).not.toContain('.ts:');
    expect(toErrorInfo('just a string')).toEqual({ code: 'RUNNER_FAILED', message: 'just a string' });
    expect(toErrorInfo(42)).toEqual({ code: 'RUNNER_FAILED', message: '42' });
    expect(toErrorInfo(null)).toEqual({ code: 'RUNNER_FAILED', message: 'null' });
    expect(toErrorInfo(Object.create(null))).toEqual({ code: 'RUNNER_FAILED', message: 'a thrown object' });
    expect(toErrorInfo(new Error('bad tensor'), { source: 'ONNX Runtime' }).message).toBe('ONNX Runtime: bad tensor');
  });

  it('gives the message of a thrown value in words', () => {
    expect(messageOf(new Error('x'))).toBe('x');
    expect(messageOf(new Error(''))).toBe('Error');
    expect(messageOf({ toString: () => 'custom' })).toBe('custom');
  });
});

describe('typed facts', () => {
  it('are checked by the compiler, per code', () => {
    // @ts-expect-error QUEUE_FULL counts jobs: `given` is a number
    void new HearthError('QUEUE_FULL', 'full', { given: 'four', allowed: 3 });
    // @ts-expect-error QUEUE_FULL cannot be made without its facts (its words need them)
    void new HearthError('QUEUE_FULL', 'full');
    // @ts-expect-error an ended job is done, failed or cancelled, never queued
    void fault('ALREADY_ENDED', 'ended', { jobId: 'j', kind: 'image', state: 'queued' });
    // @ts-expect-error a key that DAILY_LIMIT's facts do not have
    const wrong: ErrorInfo = { code: 'DAILY_LIMIT', message: 'used up', facts: { given: 1, allowed: 2, when: 'today' } };
    void wrong;
    // A code whose facts are all optional may leave them out.
    const e = new HearthError('SHUTTING_DOWN', 'stopping');
    expect(e.facts).toEqual({});
  });

  it('are read typed once the code is known', () => {
    const info: ErrorInfo = toErrorInfo(new HearthError('DAILY_LIMIT', 'used up', { given: 601, allowed: 600 }));
    const over = info.code === 'DAILY_LIMIT' ? info.facts.given - info.facts.allowed : 0;
    expect(over).toBe(1);
    const thrown: HearthError = HearthError.from(SAMPLES.MODEL_INVALID);
    expect(thrown.is('MODEL_INVALID') ? thrown.facts.path : undefined).toBe('/m/x.gguf');
    expect(thrown.is('MODEL_MISSING')).toBe(false);
  });
});

describe('the worker protocol', () => {
  it('checks the same codes as the type: every sample crosses, facts and all', () => {
    for (const e of samples) expect(errorInfoSchema.safeParse(e), e.code).toMatchObject({ success: true, data: e });
  });

  it('refuses a code that is not in ERROR_CODES, and facts its adapters read in the wrong shape', () => {
    expect(errorInfoSchema.safeParse({ code: 'NETWORK', message: 'x' }).success).toBe(false);
    expect(errorInfoSchema.safeParse({ code: 'QUEUE_FULL', message: 'x', facts: { given: 'four', allowed: 3 } }).success).toBe(false);
    expect(errorInfoSchema.safeParse({ code: 'QUEUE_FULL', message: 'x' }).success).toBe(false);
    expect(errorInfoSchema.safeParse({ code: 'ALREADY_ENDED', message: 'x', facts: { jobId: 'j', kind: 'image', state: 'running' } }).success).toBe(false);
    expect(errorInfoSchema.safeParse({ code: 'MODEL_INVALID', message: 'x', facts: { at: new Date() } }).success).toBe(false);
  });
});
