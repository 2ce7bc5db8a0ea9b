/** Discord's limit on a message's content. */
export const MESSAGE_LIMIT = 2000;

/**
 * Characters of answer text per message. The rest of the 2000 is kept for what a message adds around
 * its piece of text: the streaming cursor, a user mention, code fences closed and reopened across messages.
 */
export const CHUNK_LIMIT = 1900;

/**
 * Splits a (growing) answer into message-sized pieces; joined, they give the text back exactly.
 *
 * Prefix-stable: a piece is cut only once the text runs past it, and where it is cut depends only on
 * the text before the cut, so as the answer streams, earlier pieces never change — a message that has
 * been filled is never edited again, and nothing is lost or shown twice.
 */
export function splitText(text: string, limit = CHUNK_LIMIT): string[] {
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    const cut = findCut(rest, limit);
    chunks.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  chunks.push(rest);
  return chunks;
}

/** Cuts after the last line break in the second half of the window, else the last space, else at the limit. */
function findCut(text: string, limit: number): number {
  const window = text.slice(0, limit);
  const floor = Math.floor(limit / 2);
  const nl = window.lastIndexOf('\n');
  if (nl >= floor) return nl + 1;
  const sp = window.lastIndexOf(' ');
  if (sp >= floor) return sp + 1;
  // Never split a surrogate pair (an emoji would turn into two broken characters).
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit;
}

const FENCE = /(^|\n)```([^\n`]*)/g;

/**
 * What each piece shows: a code block cut by a message boundary is closed at the end of one message
 * and opened again (same language) at the start of the next, so both render as code.
 */
export function decorateChunks(chunks: readonly string[]): string[] {
  const out: string[] = [];
  let open: string | null = null;
  let atLineStart = true;
  chunks.forEach((chunk, i) => {
    const prefix = open !== null ? `\`\`\`${open}\n` : '';
    for (const m of chunk.matchAll(FENCE)) {
      if (m.index === 0 && m[1] === '' && !atLineStart) continue;
      open = open === null ? (m[2] ?? '').trim().slice(0, 20) : null;
    }
    const suffix = open !== null && i < chunks.length - 1 ? '\n```' : '';
    out.push(prefix + chunk + suffix);
    atLineStart = chunk.endsWith('\n');
  });
  return out;
}
