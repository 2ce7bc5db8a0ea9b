/**
 * Text for Slack: escaping model output so it cannot ping a channel or fake a link, and splitting
 * long answers under Slack's limits without losing a character.
 */

/** A section block's text holds at most 3000 characters. */
export const SECTION_CHARS = 3000;
/**
 * One message carries at most this much answer text: four full sections. Slack cuts messages past
 * 40,000 characters and allows 50 blocks; a smaller part keeps each message readable and each
 * `chat.update` cheap.
 */
export const PART_CHARS = 4 * SECTION_CHARS;

/**
 * Escapes the three characters Slack's mrkdwn gives meaning to. Model output must never become
 * `<!channel>`, `<@U123>` or a disguised link.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** What Slack sends is already escaped; the model should read plain text. */
export function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/**
 * For `markdown_text` (the streaming methods), which takes plain markdown: entities would show as
 * typed, so instead a zero-width space after `<` keeps `<!here>` and `<@U1>` from being read as
 * mentions while looking the same.
 */
export function neutralizeMentions(text: string): string {
  return text.replace(/<([!@#])/g, '<\u200b$1');
}

/**
 * Splits text into pieces of at most `max` characters, preferring a paragraph break, then a line
 * break, then a space, and never cutting an HTML entity (`&amp;`) in two. Joining the pieces gives
 * the text back exactly. A code fence left open at a cut is closed there and reopened in the next
 * piece, so formatting survives; those added fences are the only characters added.
 */
export function splitText(text: string, max: number): string[] {
  if (max < 64) throw new RangeError(`splitText needs a limit of at least 64 characters; got ${max}`);
  const pieces: string[] = [];
  let rest = text;
  let reopen = '';
  while (reopen.length + rest.length > max) {
    let cut = cutIndex(rest, max - reopen.length);
    let piece = reopen + rest.slice(0, cut);
    let fence = openFence(piece);
    if (fence !== null) {
      // Leave room to close the fence ("\n```").
      cut = cutIndex(rest, max - reopen.length - 4);
      piece = reopen + rest.slice(0, cut);
      fence = openFence(piece);
      if (fence !== null) piece += piece.endsWith('\n') ? '```' : '\n```';
    }
    pieces.push(piece);
    rest = rest.slice(cut);
    reopen = fence !== null ? `\`\`\`${fence}\n` : '';
  }
  if (rest.length > 0 || pieces.length === 0) pieces.push(reopen + rest);
  return pieces;
}

/** Where to cut `text` so the first piece has at most `budget` characters (always at least 1). */
export function cutIndex(text: string, budget: number): number {
  if (text.length <= budget) return text.length;
  const window = text.slice(0, budget);
  const floor = Math.floor(budget / 2);
  for (const sep of ['\n\n', '\n', ' ']) {
    const at = window.lastIndexOf(sep);
    if (at >= floor) return at + sep.length;
  }
  let cut = budget;
  // Never split an entity such as &amp; (at most 5 characters long).
  const amp = window.lastIndexOf('&');
  if (amp >= 0 && amp > budget - 6 && !window.slice(amp).includes(';')) cut = amp;
  // Never split a surrogate pair.
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return Math.max(1, cut);
}

/** The language tag of a ``` fence still open at the end of `text` ('' for none), or null when all are closed. */
function openFence(text: string): string | null {
  let open: string | null = null;
  const re = /```([\w+-]{0,20})/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) open = open === null ? (m[1] ?? '') : null;
  return open;
}
