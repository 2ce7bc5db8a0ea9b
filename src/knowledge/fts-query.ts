/**
 * A question as an FTS5 query: its words (letters and digits, any script), common words left out,
 * each quoted (so nothing a person types is read as FTS5 syntax) and joined with OR: bm25 ranks the
 * messages that share the most, and the rarest, words first.
 */

const STOPWORDS = new Set(
  (
    'a an and are as at be but by can could did do does for from had has have how i if in into is it its ' +
    'me my no not of on or our so that the their them then there these they this to was we were what when ' +
    'where which who whom why will with would you your about any all also am been being just more most ' +
    'should than too us very anyone someone know tell please hi hey hello thanks'
  ).split(' '),
);

/** At most this many words go into one query. */
export const MAX_QUERY_WORDS = 24;

/** The FTS5 MATCH expression for a question; '' when it has no searchable word. */
export function ftsQuery(question: string): string {
  const words = question.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const kept: string[] = [];
  for (const w of words) {
    if (w.length < 2 || STOPWORDS.has(w) || kept.includes(w)) continue;
    kept.push(w);
    if (kept.length === MAX_QUERY_WORDS) break;
  }
  return kept.map((w) => `"${w}"`).join(' OR ');
}
