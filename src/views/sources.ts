/**
 * The sources of an answer (workspace knowledge): the indexed messages a chat job was given, carried
 * in its payload so every face lists them under the answer, after a restart too.
 */
import type { JobRecord } from '../engine/types.js';
import { chatPayloadOf, type ChatSource } from '../jobs/chat.js';

/** The sources of a chat job, in the order the model was given them; none for any other job. */
export function sourcesOf(job: Pick<JobRecord, 'kind' | 'payload'> | undefined): ChatSource[] {
  if (!job) return [];
  return chatPayloadOf(job)?.sources ?? [];
}

/** "Ada, 2024-03-05": who wrote a source and on which day (UTC). */
export function sourceLabel(s: ChatSource): string {
  return `${s.author}, ${new Date(s.at).toISOString().slice(0, 10)}`;
}

/** One source as a face lists it: its numbered label ("1. Ada, 2024-03-05") and the message's URL. */
export interface SourceEntry {
  label: string;
  url: string;
}

/** The sources numbered in the order the model was given them (its "[1]" is the first). */
export function sourceEntries(sources: readonly ChatSource[]): SourceEntry[] {
  return sources.map((s, i) => ({ label: `${i + 1}. ${sourceLabel(s)}`, url: s.url }));
}

/**
 * The sources as numbered links, in the order the model was given them (its "[1]" is the first):
 * `link` writes one in the face's own markup from its label ("1. Ada, 2024-03-05") and URL.
 */
export function sourceLinks(sources: readonly ChatSource[], link: (label: string, url: string) => string): string[] {
  return sourceEntries(sources).map((e) => link(e.label, e.url));
}

/** True for a URL a face may make a link of: http(s) only, so a stored link can never run script. */
export function isLinkable(url: string): boolean {
  return /^https?:\/\/[^\s]+$/i.test(url) && URL.canParse(url);
}
