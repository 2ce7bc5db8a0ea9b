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

  test('--image takes a link as Slack sends it (bare, in <>, with a label); --strength a number', () => {
    const url = 'https://files.slack.com/files-pri/T1-F1/fox.png';
    expect(ok(`a fox --image <${url}> --strength 0.45`)).toEqual({ help: false, input: { prompt: 'a fox', image: { url }, strength: 0.45 } });
    expect(ok(`a fox --image <${url}|fox.png>`)).toEqual({ help: false, input: { prompt: 'a fox', image: { url } } });
    expect(ok(`a fox --image ${url}`)).toEqual({ help: false, input: { prompt: 'a fox', image: { url } } });
    expect(fail('a fox --image fox.png').message).toContain('--image takes the link of an image shared in Slack');
    expect(fail('a fox --strength lots').message).toBe('--strength takes a number from 0 to 1, like 0.6; got "lots"');
  });

  test('the help shows the limits, defaults and samplers of the configured model', () => {
    const text = imagineHelp({
      minSize: 512,
      maxSize: 1536,
      sizeMultiple: 8,
      maxSteps: 40,
      minGuidance: 0,
      maxGuidance: 30,
      maxSeed: 2 ** 32 - 1,
      maxPromptChars: 700,
      schedulers: ['euler', 'dpmpp_2m_karras', 'default'],
      samplers: [
        { id: 'euler', label: 'Euler' },
        { id: 'dpmpp_2m_karras', label: 'DPM++ 2M Karras' },
        { id: 'default', label: "Model's own" },
      ],
      defaults: { width: 1024, height: 1024, steps: 30, guidance: 5, scheduler: 'dpmpp_2m_karras', negativePrompt: '' },
      fromImage: true,
      minStrength: 0,
      maxStrength: 1,
      defaultStrength: 0.6,
      variations: [{ id: 'subtle', label: 'Vary (Subtle)', strength: 0.35 }],
      maxImageBytes: 8 * 1024 * 1024,
    });
    expect(text).toContain('1 to 40 (default 30)');
    expect(text).toContain('from 512 to 1536 (default 1024x1024)');
    expect(text).toContain('`euler` (Euler), `dpmpp_2m_karras` (DPM++ 2M Karras)');
    expect(text).toContain('(default DPM++ 2M Karras)');
    expect(text).toContain('up to 700 characters');
    expect(text).toContain('0 (keep it) to 1 (ignore it); default 0.6');
    expect(text).toContain('up to 8 MB');
    expect(text).toContain('*Vary (Subtle)* (strength 0.35)');
  });
});
