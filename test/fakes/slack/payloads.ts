/** Request bodies as Slack sends them: slash commands, Events API callbacks, button presses. */
import { randomUUID } from 'node:crypto';
import { nextTs } from './state.js';

type Json = Record<string, unknown>;

export interface Who {
  team?: string;
  user: string;
  channel: string;
}

/**
 * `who.asSent`: `text` is already as Slack sends it. With "Escape channels, users, and links" on, Slack
 * escapes what people type but turns a typed @here or @someone into markup (`<!here>`, `<@U1|name>`).
 */
export function slashCommand(command: string, text: string, who: Who & { responseUrl: string; asSent?: boolean }): Json {
  return {
    token: 'verification-token',
    team_id: who.team ?? 'T0001',
    team_domain: 'fake',
    channel_id: who.channel,
    channel_name: who.channel.startsWith('D') ? 'directmessage' : 'general',
    user_id: who.user,
    user_name: who.user.toLowerCase(),
    command,
    // Slack escapes &, < and > in what people type.
    text: who.asSent ? text : text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
    api_app_id: 'A0001',
    is_enterprise_install: 'false',
    response_url: who.responseUrl,
    trigger_id: `${Date.now()}.${randomUUID()}`,
  };
}

export function eventCallback(event: Json, team = 'T0001', eventId = `Ev${randomUUID().slice(0, 10).toUpperCase()}`): Json {
  return {
    token: 'verification-token',
    team_id: team,
    api_app_id: 'A0001',
    event,
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: team, user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
  };
}

/** An @mention of the app; `thread` makes it a reply in that thread. */
export function mention(text: string, who: Who & { thread?: string; files?: Json[]; botUserId?: string }): { event: Json; ts: string } {
  const ts = nextTs();
  const event: Json = {
    type: 'app_mention',
    user: who.user,
    text: `<@${who.botUserId ?? 'UBOT'}> ${text}`,
    ts,
    channel: who.channel,
    event_ts: ts,
    team: who.team ?? 'T0001',
    ...(who.thread ? { thread_ts: who.thread } : {}),
    ...(who.files ? { files: who.files } : {}),
  };
  return { event, ts };
}

/** A direct message to the app. */
export function directMessage(text: string, who: Who & { thread?: string }): { event: Json; ts: string } {
  const ts = nextTs();
  const event: Json = {
    type: 'message',
    channel_type: 'im',
    user: who.user,
    text,
    ts,
    channel: who.channel,
    event_ts: ts,
    team: who.team ?? 'T0001',
    client_msg_id: randomUUID(),
    ...(who.thread ? { thread_ts: who.thread } : {}),
  };
  return { event, ts };
}

/** Someone pressing a button on one of the app's messages. */
export function buttonPress(action: { actionId: string; value: string }, who: Who & { messageTs: string; thread?: string; responseUrl: string }): Json {
  return {
    type: 'block_actions',
    team: { id: who.team ?? 'T0001', domain: 'fake' },
    user: { id: who.user, username: who.user.toLowerCase(), name: who.user.toLowerCase(), team_id: who.team ?? 'T0001' },
    api_app_id: 'A0001',
    token: 'verification-token',
    container: { type: 'message', message_ts: who.messageTs, channel_id: who.channel, is_ephemeral: false },
    trigger_id: `${Date.now()}.${randomUUID()}`,
    channel: { id: who.channel, name: 'general' },
    message: { type: 'message', user: 'UBOT', ts: who.messageTs, text: '', ...(who.thread ? { thread_ts: who.thread } : {}) },
    response_url: who.responseUrl,
    actions: [
      {
        action_id: action.actionId,
        block_id: 'b1',
        text: { type: 'plain_text', text: 'button' },
        value: action.value,
        type: 'button',
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
}
