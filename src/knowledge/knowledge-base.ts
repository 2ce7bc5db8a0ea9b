/**
 * Workspace knowledge as the commands see it ({@link KnowledgeRetriever}): for a question, the most
 * relevant indexed messages (FTS5, bm25) among the channels of the asker's own workspace that the
 * asker can read right now, numbered, with author and date, and their links as sources.
 *
 * With an embedding model ({@link KnowledgeBaseOptions.semantic}), the question is also embedded and
 * the nearest messages by meaning (sqlite-vec) are fused with the full-text ones by reciprocal rank
 * fusion (src/knowledge/semantic-search.ts); without one, or when the embedding is not had in time,
 * full text alone.
 *
 * Platforms register what only they can answer (who can read a channel, a message's link) once
 * their adapter is connected; a platform that has not registered gets nothing.
 *
 * The web console has no platform identity whose access could be asked: it reads exactly the indexed
 * channels `knowledge.console` names ({@link KnowledgeBaseOptions.console}), and nothing without them.
 */
import type { Invocation } from '../commands/invocation.js';
import { withoutCommonTerms } from './common-terms.js';
import { ftsQuery } from './fts-query.js';
import type { MessageIndex, SearchScope } from './message-index.js';
import type { SemanticSearch } from './semantic-search.js';
import type { KnowledgePlatform, KnowledgeRetriever, KnowledgeSource, PlatformKnowledge, Retrieved, SearchHit } from './types.js';

export interface KnowledgeBaseOptions {
  index: MessageIndex;
  /** The indexed channel ids per platform (`knowledge.slackChannels`, `knowledge.discordChannels`). */
  channels: Readonly<Record<KnowledgePlatform, readonly string[]>>;
  /** How many messages an answer is given. */
  topK: number;
  /** Most characters of one message given to the model. */
  maxMessageChars?: number;
  /** Search by meaning too (`models.embedding`), fused with full text. */
  semantic?: SemanticSearch;
  /** The indexed channels the web console may be answered from (`knowledge.console`); none when absent. */
  console?: Readonly<Record<KnowledgePlatform, readonly string[]>>;
  /** Where a failed retrieval is reported; the question is then answered without knowledge. */
  report(error: unknown, where: string): void;
}

const PLATFORMS: readonly KnowledgePlatform[] = ['slack', 'discord'];

export class KnowledgeBase implements KnowledgeRetriever {
  readonly index: MessageIndex;
  readonly #channels: Readonly<Record<KnowledgePlatform, readonly string[]>>;
  readonly #topK: number;
  readonly #maxChars: number;
  readonly #report: KnowledgeBaseOptions['report'];
  readonly #semantic: SemanticSearch | undefined;
  readonly #platforms = new Map<KnowledgePlatform, PlatformKnowledge>();
  readonly #console: Readonly<Record<KnowledgePlatform, readonly string[]>>;

  constructor(opts: KnowledgeBaseOptions) {
    this.index = opts.index;
    this.#channels = opts.channels;
    this.#topK = opts.topK;
    this.#maxChars = opts.maxMessageChars ?? 1500;
    this.#report = opts.report;
    this.#semantic = opts.semantic;
    // Only indexed channels, whatever the caller passed (the config refuses others already).
    const indexed = (p: KnowledgePlatform): string[] => (opts.console?.[p] ?? []).filter((c) => opts.channels[p].includes(c));
    this.#console = { slack: indexed('slack'), discord: indexed('discord') };
  }

  /** The channels indexed on a platform. */
  channelsOf(platform: KnowledgePlatform): readonly string[] {
    return this.#channels[platform];
  }

  /** A connected platform answers who can read what and links messages; replaces an earlier one. */
  register(platform: PlatformKnowledge): void {
    this.#platforms.set(platform.platform, platform);
  }

  unregister(platform: PlatformKnowledge): void {
    if (this.#platforms.get(platform.platform) === platform) this.#platforms.delete(platform.platform);
  }

  async retrieve(question: string, inv: Invocation, opts: { signal?: AbortSignal } = {}): Promise<Retrieved | undefined> {
    try {
      return await this.#retrieve(question, inv, opts.signal);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      this.#report(e, `knowledge: retrieving for ${inv.userId}`);
      return undefined;
    }
  }

  async #retrieve(question: string, inv: Invocation, signal: AbortSignal | undefined): Promise<Retrieved | undefined> {
    if (inv.platform === 'web') return this.#forConsole(question, signal);
    const platform = PLATFORMS.find((p) => p === inv.platform);
    const workspace = inv.workspaceId;
    if (!platform || !workspace) return undefined;
    const known = this.#platforms.get(platform);
    const channels = this.#channels[platform];
    if (!known || channels.length === 0) return undefined;
    const match = withoutCommonTerms(ftsQuery(question), this.index);
    if (match === '' && !this.#semantic) return undefined;
    const user = inv.userId.slice(platform.length + 1);
    const readable = await known.readable(workspace, user, channels, signal);
    if (readable.size === 0) return undefined;
    const scope = { platform, workspace, channels: [...readable] };
    return this.#answer(await this.#search(question, match, scope, signal), signal);
  }

  /**
   * The console's question: the channels `knowledge.console` names, in whichever workspace the index
   * holds each, read by no one's access but the config's. Nothing when none is named.
   */
  async #forConsole(question: string, signal: AbortSignal | undefined): Promise<Retrieved | undefined> {
    const match = ftsQuery(question);
    if (match === '' && !this.#semantic) return undefined;
    const hits: SearchHit[] = [];
    for (const platform of PLATFORMS) {
      const byWorkspace = new Map<string, string[]>();
      for (const ref of this.index.channelRefs(platform, this.#console[platform])) {
        byWorkspace.set(ref.workspace, [...(byWorkspace.get(ref.workspace) ?? []), ref.channel]);
      }
      for (const [workspace, channels] of byWorkspace) hits.push(...(await this.#search(question, match, { platform, workspace, channels }, signal)));
    }
    // Scores of different workspaces compare: bm25 is computed over the whole index, fused scores from ranks.
    hits.sort((a, b) => a.score - b.score);
    return this.#answer(hits.slice(0, this.#topK), signal);
  }

  async #search(question: string, match: string, scope: SearchScope, signal: AbortSignal | undefined): Promise<SearchHit[]> {
    return this.#semantic ? this.#semantic.search(question, match, scope, this.#topK, signal) : this.index.search(match, scope, this.#topK);
  }

  /** The hits that still have a link, as the model's context and the answer's sources. */
  async #answer(hits: readonly SearchHit[], signal: AbortSignal | undefined): Promise<Retrieved | undefined> {
    const used: Array<{ hit: SearchHit; url: string }> = [];
    for (const hit of hits) {
      signal?.throwIfAborted();
      const known = this.#platforms.get(hit.platform);
      const url = hit.permalink ?? (await known?.link(hit, signal));
      // No link: the message is gone from the platform (its deletion not seen yet); it is not used.
      if (url) used.push({ hit, url });
    }
    if (used.length === 0) return undefined;
    const sources: KnowledgeSource[] = used.map(({ hit, url }) => ({ url, author: hit.authorName ?? hit.author, at: hit.at, channel: hit.channel }));
    return { context: this.#context(used.map((u) => u.hit)), sources };
  }

  #context(hits: readonly SearchHit[]): string {
    const lines = hits.map((h, i) => {
      const who = h.authorName ?? h.author;
      const date = new Date(h.at).toISOString().slice(0, 10);
      const text = h.text.length > this.#maxChars ? `${h.text.slice(0, this.#maxChars)}…` : h.text;
      return `[${i + 1}] ${who}, ${date}${h.threadId ? ' (in a thread)' : ''}: ${text.replace(/\s+/g, ' ').trim()}`;
    });
    return (
      'Messages from this workspace that may help with the next question, each with its author and date. ' +
      'Use them if they answer it and mention the number of the message you used; if they do not, say so and answer from what you know.\n' +
      lines.join('\n')
    );
  }
}
