/** An answer's sources as Slack shows them under it: numbered links to the messages it was given. */
import type { ChatSource } from '../../jobs/chat.js';
import { sourceLinks } from '../../views/sources.js';
import { escapeMrkdwn, neutralizeMentions } from './text.js';

/**
 * One line of links: mrkdwn (`<url|label>`) for a message's blocks, markdown (`[label](url)`) for a
 * streamed answer's `markdown_text`. Labels cannot break out of their link.
 */
export function sourcesLine(sources: readonly ChatSource[], format: 'mrkdwn' | 'markdown'): string {
  const links = sourceLinks(sources, (label, url) => {
    if (format === 'mrkdwn') return `<${url.replace(/[|<>]/g, encodeURIComponent)}|${escapeMrkdwn(label).replace(/\|/g, '/')}>`;
    return `[${neutralizeMentions(label.replace(/[[\]]/g, ''))}](${url.replace(/[()\s]/g, encodeURIComponent)})`;
  });
  return `${format === 'mrkdwn' ? '*Sources:*' : '**Sources:**'} ${links.join(' · ')}`;
}
