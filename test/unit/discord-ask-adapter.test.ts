/** Discord's /ask carries an `adapter` option only when adapters are configured, its choices their names. */
import { describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/bots/discord/command-definitions.js';
import type { CommandLimits } from '../../src/commands/hearth-commands.js';
import { samplerOptions, VARIATIONS } from '../../src/commands/image-choices.js';
import { DEFAULT_IMAGE_DEFAULTS, DEFAULT_IMAGE_STRENGTH, STRENGTH } from '../../src/jobs/image.js';

const limits: CommandLimits = {
  maxPromptChars: 6000,
  image: { minSize: 256, maxSize: 1024, sizeMultiple: 8, maxSteps: 60, minGuidance: 0, maxGuidance: 20, maxSeed: 2 ** 32 - 1, maxPromptChars: 1000, schedulers: ['euler'],
    samplers: samplerOptions(['euler']), defaults: DEFAULT_IMAGE_DEFAULTS, fromImage: true, minStrength: STRENGTH.min, maxStrength: STRENGTH.max,
    defaultStrength: DEFAULT_IMAGE_STRENGTH, variations: VARIATIONS },
  maxQuestionChars: 500,
  captionDetails: ['short', 'detailed'],
};

function askOptions(l: CommandLimits): Array<{ name: string; choices?: Array<{ name: string; value: string }>; max_length?: number }> {
  const ask = commandDefinitions(l).find((c) => c.name === 'ask') as { options: Array<{ name: string }> };
  return ask.options;
}

describe('/ask adapter option', () => {
  it('is absent without adapters', () => {
    expect(askOptions(limits).map((o) => o.name)).toEqual(['prompt', 'private', 'image']);
    expect(askOptions({ ...limits, adapters: [] }).map((o) => o.name)).toEqual(['prompt', 'private', 'image']);
  });

  it('offers the configured adapters as choices, and free text past Discord’s 25 choices', () => {
    const adapter = askOptions({ ...limits, adapters: ['pirate', 'poet'] }).find((o) => o.name === 'adapter');
    expect(adapter?.choices).toEqual([
      { name: 'pirate', value: 'pirate' },
      { name: 'poet', value: 'poet' },
    ]);
    const many = Array.from({ length: 30 }, (_, i) => `a${i}`);
    const free = askOptions({ ...limits, adapters: many }).find((o) => o.name === 'adapter');
    expect(free?.choices).toBeUndefined();
    expect(free?.max_length).toBe(64);
  });
});
