/**
 * Leaves out of a question's FTS5 query the words that are in too many messages to tell them apart.
 *
 * bm25 ranks every message that matches any word of the query, so one very common word makes the
 * search score most of the index (at 100,000 messages, hundreds of milliseconds) while adding almost
 * nothing to the ranking: FTS5's idf is ln((N − n + 0.5) / (n + 0.5)), about 2.9 for a word in 5% of
 * messages against 9–11 for one in a handful. This is the high-frequency cut-off that search engines
 * apply to such terms (Lucene's "common terms"). Each word's count is read capped, so asking costs
 * little even for a word in every message.
 */
import type { MessageIndex } from './message-index.js';

/** A word in more than this share of the indexed messages is left out... */
export const COMMON_SHARE = 0.05;
/** ...once that share is more than this many messages (a small index keeps every word). */
export const MIN_COMMON_MESSAGES = 1000;

/**
 * `match` (as {@link ftsQuery} writes it: quoted words joined by OR) without its common words; ''
 * when every word is common (nothing in the question tells messages apart by their words).
 */
export function withoutCommonTerms(match: string, index: Pick<MessageIndex, 'documentsMatching' | 'approximateSize'>): string {
  if (match === '') return '';
  const cap = Math.max(MIN_COMMON_MESSAGES, Math.floor(index.approximateSize() * COMMON_SHARE));
  const terms = match.split(' OR ');
  return terms.filter((t) => index.documentsMatching(t, cap + 1) <= cap).join(' OR ');
}
