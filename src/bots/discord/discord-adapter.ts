import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ApplicationCommandType,
  Client,
  Events,
  GatewayDispatchEvents,
  GatewayIntentBits,
  InteractionType,
  type APIInteraction,
  type GatewayMessageCreateDispatchData,
  type RESTOptions,
} from 'discord.js';
import type { DiscordKnowledge } from '../../knowledge/discord-knowledge.js';
import type { AdapterContext, PlatformAdapter } from '../adapter.js';
import { AckGate } from './ack-gate.js';
import { handleAutocomplete, handleButton } from './buttons.js';
import { commandDefinitions } from './command-definitions.js';
import { discordFailure, redactPath } from './errors.js';
import type { HandlerDeps } from './handler-deps.js';
import { HearthThreads } from './hearth-threads.js';
import { discordKnowledgeFor, listenForKnowledge } from './knowledge-events.js';
import { handleMessage } from './mentions.js';
import { DiscordRest } from './rest-client.js';
import { handleSlashCommand } from './slash-commands.js';
import { ViewRegistry } from './view-registry.js';

export interface DiscordAdapterOptions {
  /** discord.js REST settings over the defaults (tests raise `globalRequestsPerSecond` for a local fake). */
  rest?: Partial<Pick<RESTOptions, 'globalRequestsPerSecond' | 'timeout' | 'retries'>>;
  /**
   * How long an interaction token is used, from the interaction's creation, before answers go to the
   * channel instead. Discord's tokens live 15 minutes; the default leaves one minute of margin.
   */
  tokenLifetimeMs?: number;
  /** How long close() waits for replies still being sent. Default 3 s. */
  closeTimeoutMs?: number;
  /** How long start() waits for the gateway's READY. Default 60 s. */
  readyTimeoutMs?: number;
}

const DEFAULT_TOKEN_LIFETIME_MS = 14 * 60_000;

/**
 * hearth on Discord: slash commands, buttons, and mentions in hearth threads and DMs, over discord.js
 * (gateway and REST at `discord.apiBaseUrl`). Interactions and messages are read from the gateway's raw
 * payloads, so nothing depends on what discord.js happens to have cached.
 */
export class DiscordAdapter implements PlatformAdapter {
  readonly platform = 'discord' as const;
  readonly #ctx: AdapterContext;
  readonly #options: DiscordAdapterOptions;
  #client: Client | undefined;
  #views: ViewRegistry | undefined;
  #knowledge: DiscordKnowledge | undefined;
  #closing: Promise<void> | undefined;
  readonly #pending = new Set<Promise<void>>();
  /** Aborted at shutdown, after the grace period: requests still on their way are dropped. */
  readonly #lifetime = new AbortController();

  constructor(ctx: AdapterContext, options: DiscordAdapterOptions = {}) {
    this.#ctx = ctx;
    this.#options = options;
  }

  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { config, jobs } = this.#ctx;
    const d = config.discord;
    if (!d.token || !d.applicationId) throw new Error('Discord needs discord.token and discord.applicationId');
    const indexing = config.knowledge.discordChannels.length > 0 && this.#ctx.knowledge !== undefined;
    const client = new Client({
      // Without MessageContent Discord still sends the text of DMs and of messages that mention the bot;
      // workspace knowledge reads every message of its channels, so it needs the (privileged) intent.
      intents: [
        GatewayIntentBits.Guilds,
        GatewayIntentBits.GuildMessages,
        GatewayIntentBits.DirectMessages,
        ...(indexing ? [GatewayIntentBits.MessageContent] : []),
      ],
      rest: { api: d.apiBaseUrl, ...this.#options.rest },
    });
    this.#client = client;
    const rest = new DiscordRest(client.rest, d.applicationId, this.#lifetime.signal);
    // Requests cut off by the shutdown are not errors worth reporting.
    const report = (e: unknown, where: string) => {
      if (!this.#lifetime.signal.aborted) this.#ctx.reportError(e, where);
    };
    const ctx: AdapterContext = { ...this.#ctx, reportError: report };
    const acks = new AckGate();
    const views = new ViewRegistry(jobs, {
      rest,
      intervalMs: d.editIntervalMs,
      tokenLifetimeMs: this.#options.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS,
      now: () => this.#ctx.clock.now(),
      report,
      beforeSend: () => acks.quiet(),
      vary: this.#ctx.commands.limits.image.fromImage,
    });
    this.#views = views;
    // Listen before the engine starts: jobs recovered from the last run are answered from their origin.
    views.start();

    const botUserId = () => client.user?.id ?? d.applicationId ?? '';
    const deps: HandlerDeps = {
      ctx,
      rest,
      views,
      threads: new HearthThreads(() => rest, botUserId),
      acks,
      botUserId,
    };
    client.ws.on(GatewayDispatchEvents.InteractionCreate, (data: APIInteraction) => this.#track(this.#onInteraction(deps, data)));
    client.ws.on(GatewayDispatchEvents.MessageCreate, (data: GatewayMessageCreateDispatchData) => this.#track(this.#onMessage(deps, data)));
    const knowledge = discordKnowledgeFor(this.#ctx, client, this.#lifetime.signal, report);
    this.#knowledge = knowledge;
    if (knowledge) listenForKnowledge(client, knowledge, (p) => this.#track(p), report);
    client.on(Events.Error, (e) => report(discordFailure(e, 'the Discord connection'), 'discord: client'));
    client.on(Events.Warn, (m) => this.#ctx.log.warn({ component: 'discord' }, redactPath(m)));

    const readyTimeoutMs = this.#options.readyTimeoutMs ?? 60_000;
    const giveUp = AbortSignal.any([AbortSignal.timeout(readyTimeoutMs), ...(opts.signal ? [opts.signal] : [])]);
    const ready = once(client, Events.ClientReady, { signal: giveUp });
    try {
      await Promise.all([client.login(d.token), ready]);
      await this.#register(rest);
      if (knowledge) {
        this.#ctx.knowledge?.register(knowledge);
        knowledge.start({ botUserId: botUserId() });
      }
    } catch (e) {
      ready.catch(() => {});
      await this.close().catch(() => {});
      if (giveUp.aborted && !opts.signal?.aborted) throw new Error(`Discord did not get ready within ${readyTimeoutMs / 1000} s (gateway from ${d.apiBaseUrl})`);
      throw discordFailure(e, 'connecting to Discord');
    }
    this.#ctx.log.info({ user: client.user?.tag, commands: d.guildIds.length > 0 ? `guilds ${d.guildIds.join(', ')}` : 'global' }, 'Discord connected');
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const timeout = this.#options.closeTimeoutMs ?? 3000;
      const stop = new AbortController();
      await Promise.race([Promise.allSettled([...this.#pending]), delay(timeout, undefined, { signal: stop.signal }).catch(() => {})]);
      stop.abort();
      if (this.#knowledge) {
        this.#ctx.knowledge?.unregister(this.#knowledge);
        await this.#knowledge.stop();
      }
      await this.#views?.close(timeout);
      this.#lifetime.abort();
      await this.#client?.destroy();
    })();
    return this.#closing;
  }

  /** Knowledge for tests and the admin view: the Discord side of the index, when configured. */
  get knowledge(): DiscordKnowledge | undefined {
    return this.#knowledge;
  }

  async #register(rest: DiscordRest): Promise<void> {
    const { commands, config } = this.#ctx;
    const defs = commandDefinitions(commands.limits);
    const guilds = config.discord.guildIds;
    // Per-guild commands replace global ones (cleared, or each would show twice); global ones take a guild's place.
    await rest.putCommands(guilds.length === 0 ? defs : []);
    for (const guildId of guilds) await rest.putCommands(defs, guildId);
  }

  /** Keeps handlers that are running, so close() can let them finish. */
  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async #onInteraction(deps: HandlerDeps, i: APIInteraction): Promise<void> {
    try {
      if (i.type === InteractionType.ApplicationCommand && i.data.type === ApplicationCommandType.ChatInput) {
        await handleSlashCommand(deps, i as Parameters<typeof handleSlashCommand>[1]);
      } else if (i.type === InteractionType.MessageComponent) {
        await handleButton(deps, i);
      } else if (i.type === InteractionType.ApplicationCommandAutocomplete) {
        await handleAutocomplete(deps, i);
      }
    } catch (e) {
      deps.ctx.reportError(discordFailure(e, 'handling an interaction'), 'discord: interaction');
    }
  }

  async #onMessage(deps: HandlerDeps, m: GatewayMessageCreateDispatchData): Promise<void> {
    try {
      await handleMessage(deps, m);
    } catch (e) {
      deps.ctx.reportError(discordFailure(e, 'handling a message'), 'discord: message');
    }
  }
}
