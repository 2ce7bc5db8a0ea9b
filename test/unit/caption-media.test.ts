import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/engine/types.js';
import { isHostAllowed, isLoopbackHost } from '../../src/media/host-allowlist.js';
import { declaredFormat, sniffImageType } from '../../src/media/image-type.js';
import { parseCaptionPayload } from '../../src/runners/caption/payload.js';
import { parseCaptionSettings } from '../../src/runners/caption/settings.js';

const bytes = (...parts: (number[] | string)[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

describe('sniffImageType', () => {
  it('recognises the supported formats by their magic bytes', () => {
    expect(sniffImageType(bytes([0x89], 'PNG\r\n\x1a\n', [0, 0]))).toBe('png');
    expect(sniffImageType(bytes([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffImageType(bytes('GIF89a', [1, 0]))).toBe('gif');
    expect(sniffImageType(bytes('GIF87a'))).toBe('gif');
    expect(sniffImageType(bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 '))).toBe('webp');
  });

  it('names other things', () => {
    expect(sniffImageType(bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt '))).toBe('unknown');
    expect(sniffImageType(bytes('%PDF-1.7'))).toBe('pdf');
    expect(sniffImageType(bytes('<!DOCTYPE html><html>'))).toBe('html');
    expect(sniffImageType(bytes('<?xml version="1.0"?><svg xmlns="x">'))).toBe('svg');
    expect(sniffImageType(bytes('hello world\n'))).toBe('text');
    expect(sniffImageType(bytes([0, 0, 0, 0x18], 'ftypavif'))).toBe('avif');
    expect(sniffImageType(bytes([0, 0, 0, 0x18], 'ftypheic'))).toBe('heif');
    expect(sniffImageType(bytes([0x50, 0x4b, 3, 4]))).toBe('zip');
    expect(sniffImageType(new Uint8Array(0))).toBe('unknown');
    expect(sniffImageType(bytes([0, 1, 2, 3]))).toBe('unknown');
  });
});

describe('declaredFormat', () => {
  it('reads content types, file names and extensions', () => {
    expect(declaredFormat('image/PNG')).toBe('png');
    expect(declaredFormat('image/jpeg; charset=binary')).toBe('jpeg');
    expect(declaredFormat('image/jpg')).toBe('jpeg');
    expect(declaredFormat('Holiday.JPG')).toBe('jpeg');
    expect(declaredFormat('.webp')).toBe('webp');
    expect(declaredFormat('gif')).toBe('gif');
    expect(declaredFormat('text/html')).toEqual({ other: 'text/html' });
    expect(declaredFormat('notes.txt')).toEqual({ other: 'txt' });
  });

  it('treats no claim as no claim', () => {
    expect(declaredFormat(undefined)).toBeNull();
    expect(declaredFormat('')).toBeNull();
    expect(declaredFormat('application/octet-stream')).toBeNull();
    expect(declaredFormat('photo')).toBeNull();
    expect(declaredFormat('photo.')).toBeNull();
  });
});

describe('isHostAllowed', () => {
  const allowed = ['cdn.discordapp.com', 'media.discordapp.net', 'files.slack.com', '*.slack-edge.com', '127.0.0.1', '::1'];

  it('matches exact hosts, case-insensitively, with or without a trailing dot', () => {
    expect(isHostAllowed('cdn.discordapp.com', allowed)).toBe(true);
    expect(isHostAllowed('CDN.DiscordApp.com.', allowed)).toBe(true);
    expect(isHostAllowed('[::1]', allowed)).toBe(true);
    expect(isHostAllowed('127.0.0.1', allowed)).toBe(true);
  });

  it('does not match look-alikes', () => {
    expect(isHostAllowed('cdn.discordapp.com.evil.net', allowed)).toBe(false);
    expect(isHostAllowed('evilcdn.discordapp.com', allowed)).toBe(false);
    expect(isHostAllowed('discordapp.com', allowed)).toBe(false);
    expect(isHostAllowed('127.0.0.2', allowed)).toBe(false);
    expect(isHostAllowed('', allowed)).toBe(false);
    expect(isHostAllowed('cdn.discordapp.com', [])).toBe(false);
  });

  it('lets "*." entries match subdomains only', () => {
    expect(isHostAllowed('ca.slack-edge.com', allowed)).toBe(true);
    expect(isHostAllowed('a.b.slack-edge.com', allowed)).toBe(true);
    expect(isHostAllowed('slack-edge.com', allowed)).toBe(false);
    expect(isHostAllowed('evilslack-edge.com', allowed)).toBe(false);
  });

  it('knows loopback hosts', () => {
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('127.5.0.1')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
    expect(isLoopbackHost('localhost.evil.net')).toBe(false);
  });
});

describe('parseCaptionPayload', () => {
  const limits = { maxImageBytes: 30, maxQuestionChars: 10 };
  const fail = (payload: Parameters<typeof parseCaptionPayload>[0]): HearthError => {
    try {
      parseCaptionPayload(payload, limits);
    } catch (e) {
      if (e instanceof HearthError) return e;
    }
    throw new Error('expected a HearthError');
  };

  it('accepts one source, a question and a detail level', () => {
    expect(parseCaptionPayload({ imageBase64: 'AAAA', question: ' why? ', detail: 'detailed' }, limits)).toEqual({
      source: { kind: 'base64', data: 'AAAA' },
      question: 'why?',
      detail: 'detailed',
    });
    expect(parseCaptionPayload({ imagePath: '/data/a.png', question: '   ' }, limits)).toEqual({
      source: { kind: 'path', path: '/data/a.png' },
      detail: 'short',
    });
  });

  it('refuses bad shapes with the facts', () => {
    expect(fail(null).code).toBe('INVALID_INPUT');
    expect(fail({ imageBase64: 'AAAA', imagePath: '/a.png' }).facts).toEqual({ option: 'image', given: 2, allowed: 1 });
    expect(fail({ imageBase64: 'not base64!' }).message).toBe('imageBase64 is not base64');
    expect(fail({ imageBase64: 'AAAA', detail: 'huge' }).facts).toEqual({ option: 'detail', given: 'huge', allowed: ['short', 'detailed'] });
    expect(fail({ imageBase64: 'AAAA', question: 5 }).code).toBe('INVALID_INPUT');
  });

  it('refuses an oversized image before decoding base64, and a long question', () => {
    const e = fail({ imageBase64: 'A'.repeat(80) });
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.facts).toEqual({ givenBytes: 60, allowedBytes: 30 });
    const q = fail({ imageBase64: 'AAAA', question: 'x'.repeat(11) });
    expect(q.code).toBe('PROMPT_TOO_LONG');
    expect(q.message).toBe('the question is 11 characters; the limit is 10');
  });
});

describe('parseCaptionSettings', () => {
  const base = { model: 'caption', dir: '/m', maxNewTokens: 30, detailedMaxNewTokens: 120, cacheDir: '/c' };

  it('fills defaults and keeps optional limits', () => {
    expect(parseCaptionSettings(base)).toEqual({ ...base, providers: ['cpu'] });
    expect(parseCaptionSettings({ ...base, providers: ['cuda', 'cpu', 'cpu'], threads: 2 })).toMatchObject({
      providers: ['cuda', 'cpu'],
      threads: 2,
    });
  });

  it('names the bad key', () => {
    expect(() => parseCaptionSettings({ ...base, dir: '' })).toThrow(/dir must be a non-empty string/);
    expect(() => parseCaptionSettings({ ...base, detailedMaxNewTokens: 5000 })).toThrow(
      /detailedMaxNewTokens must be an integer between 1 and 1024; got 5000/,
    );
    expect(() => parseCaptionSettings({ ...base, providers: [] })).toThrow(/providers/);
    expect(() => parseCaptionSettings({ ...base, maxImagePixels: -1 })).toThrow(/maxImagePixels/);
  });
});
