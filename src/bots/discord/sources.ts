/** An answer's sources as Discord shows them under it: numbered links to the messages it was given. */
import type { ChatSource } from '../../jobs/chat.js';
import { sourceLinks } from '../../views/sources.js';

/**
 * One line of masked links (`[label](<url>)`: the angle brackets keep Discord from unfurling each
 * message into an embed). Labels lose the characters that could end the link or format the line.
 */
export function sourcesLine(sources: readonly ChatSource[]): string {
  const links = sourceLinks(sources, (label, url) => `[${label.replace(/[[\]()<>*_~`|\\]/g, '').replace(/@/g, '@\u200b')}](<${url.replace(/[<>()\s]/g, encodeURIComponent)}>)`);
  return `**Sources:** ${links.join(' · ')}`;
}
