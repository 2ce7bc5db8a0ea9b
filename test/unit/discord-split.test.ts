import { describe, expect, it } from 'vitest';
import { CHUNK_LIMIT, decorateChunks, splitText } from '../../src/bots/discord/split.js';

function words(n: number, len = 9): string {
  return Array.from({ length: n }, (_, i) => `w${String(i).padStart(len - 1, '0')}`).join(' ');
}

describe('splitText', () => {
  it('keeps a short text in one piece', () => {
    expect(splitText('hello')).toEqual(['hello']);
    expect(splitText('')).toEqual(['']);
  });

  it('cuts long text into pieces that join back exactly, each within the limit', () => {
    const text = words(900);
    const pieces = splitText(text);
    expect(pieces.length).toBeGreaterThan(4);
    expect(pieces.join('')).toBe(text);
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(CHUNK_LIMIT);
    // Cut at word boundaries: no piece but the last ends inside a word.
    for (const p of pieces.slice(0, -1)) expect(p.endsWith(' ')).toBe(true);
  });

  it('prefers a line break in the second half of the window', () => {
    const text = `${'a'.repeat(1200)}\n${'b '.repeat(600)}`;
    const [first] = splitText(text);
    expect(first).toBe(`${'a'.repeat(1200)}\n`);
  });

  it('is prefix-stable: as text grows, earlier pieces never change', () => {
    const full = words(1200) + '\n' + 'x'.repeat(5000) + words(300);
    let prev: string[] = [];
    for (let n = 0; n <= full.length; n += 97) {
      const pieces = splitText(full.slice(0, n));
      for (let i = 0; i < prev.length - 1; i++) expect(pieces[i]).toBe(prev[i]);
      prev = pieces;
    }
  });

  it('never splits a surrogate pair when it must cut inside a word', () => {
    const text = '😀'.repeat(CHUNK_LIMIT);
    const pieces = splitText(text);
    expect(pieces.join('')).toBe(text);
    // A lone surrogate at either end would mean an emoji cut in two.
    for (const p of pieces) expect(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(p)).toBe(false);
  });
});

describe('decorateChunks', () => {
  it('closes a code block at a message boundary and reopens it with its language', () => {
    const code = Array.from({ length: 300 }, (_, i) => `const v${i} = ${i};`).join('\n');
    const text = `Here:\n\`\`\`ts\n${code}\n\`\`\`\nDone.`;
    const pieces = splitText(text);
    expect(pieces.length).toBeGreaterThan(1);
    const shown = decorateChunks(pieces);
    expect(shown[0]!.endsWith('\n```')).toBe(true);
    expect(shown[1]!.startsWith('```ts\n')).toBe(true);
    for (const s of shown) expect(s.length).toBeLessThanOrEqual(2000);
    // Every message has balanced fences.
    for (const s of shown) expect((s.match(/^```/gm) ?? []).length % 2).toBe(0);
  });

  it('leaves text without code alone', () => {
    const pieces = splitText(words(600));
    expect(decorateChunks(pieces)).toEqual(pieces);
  });
});
