import { describe, expect, test } from 'vitest';
import { imagineHelp, parseImagine } from '../../src/bots/slack/imagine-flags.js';

const ok = (text: string) => {
  const r = parseImagine(text);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
};
const fail = (text: string) => {
  const r = parseImagine(text);
  if (r.ok) throw new Error(`expected an error for ${text}`);
  return r.error;
};

describe('/imagine flags', () => {
  test('flags anywhere, quoted values, sizes', () => {
    expect(ok('a fox --steps 20 --seed 7 --size 768x512 --no "text, watermark" in snow')).toEqual({
      help: false,
      input: { prompt: 'a fox in snow', steps: 20, seed: 7, width: 768, height: 512, negativePrompt: 'text, watermark' },
    });
    expect(ok('--size 640 a square')).toEqual({ help: false, input: { prompt: 'a square', width: 640, height: 640 } });
    expect(ok('cat --size=512×768 --cfg 6.5 --sampler Euler_A')).toEqual({
      help: false,
      input: { prompt: 'cat', width: 512, height: 768, guidance: 6.5, scheduler: 'euler_a' },
    });
  });

  test('what phones and Macs do to typed text: em dashes and curly quotes', () => {
    expect(ok('a boat \u2014steps 12 \u2014no \u201cpeople, birds\u201d')).toEqual({
      help: false,
      input: { prompt: 'a boat', steps: 12, negativePrompt: 'people, birds' },
    });
  });

  test('several --no flags add up; quoted prompt words stay quoted', () => {
    expect(ok('a sign saying "open" --no text --no blur')).toEqual({
      help: false,
      input: { prompt: 'a sign saying "open"', negativePrompt: 'text, blur' },
    });
  });

  test('help', () => {
    expect(ok('')).toEqual({ help: true });
    expect(ok('help')).toEqual({ help: true });
    expect(ok('a dog --help')).toEqual({ help: true });
  });

  test('mistakes say what was given and what is expected', () => {
    expect(fail('a cat --steps many').message).toBe('--steps takes a whole number; got "many"');
    expect(fail('a cat --steps').message).toBe('--steps needs a value (see /imagine help)');
    expect(fail('a cat --steps --seed 3').message).toBe('--steps needs a value (see /imagine help)');
    expect(fail('a cat --size big').message).toContain('--size takes WIDTHxHEIGHT');
    expect(fail('a cat --colour red').message).toContain('unknown option --colour');
    expect(fail('--steps 10').message).toContain('the prompt is empty');
    expect(fail('a cat --seed -1').message).toBe('--seed takes a whole number; got "-1"');
    expect(fail('a cat --guidance lots').code).toBe('INVALID_INPUT');
  });

  test('the help shows the limits of this hearth', () => {
    const text = imagineHelp({ minSize: 256, maxSize: 1024, maxSteps: 60, maxGuidance: 30, schedulers: ['euler', 'ddim'] }, { width: 512, height: 512, steps: 25, guidance: 7.5, scheduler: 'euler' });
    expect(text).toContain('1 to 60 (default 25)');
    expect(text).toContain('from 256 to 1024 (default 512x512)');
    expect(text).toContain('one of euler, ddim');
  });
});
