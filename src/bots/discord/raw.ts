import {
  ApplicationCommandOptionType,
  ChannelType,
  SnowflakeUtil,
  type APIApplicationCommandInteractionDataBasicOption,
  type APIApplicationCommandInteractionDataOption,
  type APIAttachment,
  type APIInteraction,
  type APIInteractionDataResolved,
} from 'discord.js';
import type { Actor } from './access.js';

const THREAD_TYPES: ReadonlySet<number> = new Set([ChannelType.PublicThread, ChannelType.PrivateThread, ChannelType.AnnouncementThread]);
const DM_TYPES: ReadonlySet<number> = new Set([ChannelType.DM, ChannelType.GroupDM]);

export function isThreadType(type: number | undefined): boolean {
  return type !== undefined && THREAD_TYPES.has(type);
}

/** When the interaction was created (epoch ms), from its id: its token lives 15 minutes from then. */
export function createdAt(snowflake: string): number {
  return Number(SnowflakeUtil.timestampFrom(snowflake));
}

/** Who acts and where, from an interaction's raw payload (works whatever discord.js has cached). */
export function actorOf(i: APIInteraction): Actor {
  const user = i.member?.user ?? i.user;
  const channel = i.channel;
  const type = channel?.type;
  const parent = channel && 'parent_id' in channel && typeof channel.parent_id === 'string' ? channel.parent_id : null;
  return {
    userId: user?.id ?? '0',
    userName: user?.global_name ?? user?.username ?? 'someone',
    roles: i.member?.roles ?? [],
    guildId: i.guild_id ?? null,
    channelId: channel?.id ?? i.channel_id ?? '0',
    parentId: isThreadType(type) ? parent : null,
    isDm: (type !== undefined && DM_TYPES.has(type)) || (!i.guild_id && !!i.user),
    isThread: isThreadType(type),
  };
}

/** A slash command's options, flattened below a subcommand if there is one. */
export class CommandOptions {
  readonly subcommand: string | null;
  readonly #byName = new Map<string, APIApplicationCommandInteractionDataBasicOption>();
  readonly #resolved: APIInteractionDataResolved | undefined;

  constructor(options: readonly APIApplicationCommandInteractionDataOption[] | undefined, resolved?: APIInteractionDataResolved) {
    let list = options ?? [];
    let sub: string | null = null;
    const first = list[0];
    if (first && (first.type === ApplicationCommandOptionType.Subcommand || first.type === ApplicationCommandOptionType.SubcommandGroup)) {
      sub = first.name;
      let inner = first.options ?? [];
      const group = inner[0];
      if (group && group.type === ApplicationCommandOptionType.Subcommand) {
        sub = `${first.name} ${group.name}`;
        inner = group.options ?? [];
      }
      list = inner as APIApplicationCommandInteractionDataOption[];
    }
    this.subcommand = sub;
    for (const o of list) {
      if (o.type !== ApplicationCommandOptionType.Subcommand && o.type !== ApplicationCommandOptionType.SubcommandGroup) this.#byName.set(o.name, o);
    }
    this.#resolved = resolved;
  }

  string(name: string): string | undefined {
    const o = this.#byName.get(name);
    return o?.type === ApplicationCommandOptionType.String ? o.value : undefined;
  }

  /** A whole number option; a non-integer (possible from a client that skips validation) is passed on as is. */
  integer(name: string): number | undefined {
    const o = this.#byName.get(name);
    return o?.type === ApplicationCommandOptionType.Integer ? Number(o.value) : undefined;
  }

  number(name: string): number | undefined {
    const o = this.#byName.get(name);
    return o?.type === ApplicationCommandOptionType.Number || o?.type === ApplicationCommandOptionType.Integer ? Number(o.value) : undefined;
  }

  /** A channel option: the channel's id. */
  channel(name: string): string | undefined {
    const o = this.#byName.get(name);
    return o?.type === ApplicationCommandOptionType.Channel ? o.value : undefined;
  }

  boolean(name: string): boolean | undefined {
    const o = this.#byName.get(name);
    return o?.type === ApplicationCommandOptionType.Boolean ? o.value : undefined;
  }

  attachment(name: string): APIAttachment | undefined {
    const o = this.#byName.get(name);
    if (o?.type !== ApplicationCommandOptionType.Attachment) return undefined;
    return this.#resolved?.attachments?.[o.value];
  }

  /** The option the user is typing (autocomplete). */
  focused(): { name: string; value: string } | undefined {
    for (const o of this.#byName.values()) {
      if ('focused' in o && o.focused) return { name: o.name, value: String(o.value) };
    }
    return undefined;
  }
}
