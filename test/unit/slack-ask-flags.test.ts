import { describe, expect, it } from 'vitest';
import { askAdapterHelp, parseAskText } from '../../src/bots/slack/ask-flags.js';

const adapters = ['pirate', 'legal.v2'];

describe('/ask --adapter on Slack', () => {
  it('takes the adapter out of the question, wherever the flag is and however the dash was typed', () => {
    expect(parseAskText('--adapter pirate how do I undo a commit?', adapters)).toEqual({ ok: true, value: { prompt: 'how do I undo a commit?', adapter: 'pirate' } });
    expect(parseAskText('how do I undo a commit? --adapter=legal.v2', adapters)).toEqual({ ok: true, value: { prompt: 'how do I undo a commit?', adapter: 'legal.v2' } });
    expect(parseAskText('why is the \u2014adapter pirate sky blue', adapters)).toEqual({ ok: true, value: { prompt: 'why is the sky blue', adapter: 'pirate' } });
    // The name is the command's to check (same words on every platform).
    expect(parseAskText('--adapter nope hi', adapters)).toEqual({ ok: true, value: { prompt: 'hi', adapter: 'nope' } });
  });

  it('leaves the question as typed without the flag, or without adapters configured', () => {
    expect(parseAskText('  what is --verbose for ', adapters)).toEqual({ ok: true, value: { prompt: 'what is --verbose for' } });
    expect(parseAskText('what does --adapter pirate do', [])).toEqual({ ok: true, value: { prompt: 'what does --adapter pirate do' } });
    expect(askAdapterHelp([])).toBe('');
    expect(askAdapterHelp(adapters)).toContain('`pirate`, `legal.v2`');
  });

  it('refuses a flag without a name, naming the adapters there are', () => {
    for (const text of ['hello --adapter', 'hello --adapter= there', '--adapter --adapter pirate hi']) {
      const r = parseAskText(text, adapters);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe('INVALID_INPUT');
        expect(r.error.message).toContain('pirate, legal.v2');
      }
    }
  });
});
