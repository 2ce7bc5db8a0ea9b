/**
 * The Slack app manifest hearth needs (paste it at api.slack.com/apps → Create New App → From a
 * manifest). The scopes, events and commands here are exactly the ones the adapter uses.
 */

/** Bot scopes: what each is for. */
export const BOT_SCOPES: Readonly<Record<string, string>> = {
  commands: '/ask, /imagine and /hearth',
  'chat:write': 'answers, status messages, streaming (chat.startStream) and edits',
  'chat:write.public': '/ask and /imagine in public channels hearth has not been invited to',
  'app_mentions:read': '@mentions in channels',
  'im:history': 'direct messages to the app, and finding an answer message a crash left in one',
  'channels:history': 'finding an answer message a crash left in a public channel thread (conversations.replies), and workspace knowledge',
  'groups:history': 'finding an answer message a crash left in a private channel thread, and workspace knowledge',
  'files:read': 'images shared with a question (downloaded with the bot token from files.slack.com)',
  'files:write': 'uploading the pictures /imagine makes',
};

/** Bot scopes workspace knowledge adds (`knowledge.slackChannels`): what each is for. */
export const KNOWLEDGE_SCOPES: Readonly<Record<string, string>> = {
  'channels:read': 'whether an indexed channel is public (conversations.info)',
  'groups:read': 'who is in an indexed private channel (conversations.members), so only its members get its messages',
  'users:read': 'the names of the people whose messages are given as sources',
};

/** Events workspace knowledge adds: new, edited and deleted messages of the indexed channels. */
export const KNOWLEDGE_EVENTS: readonly string[] = ['message.channels', 'message.groups'];

export const SLASH_COMMANDS = [
  { command: '/ask', description: 'Ask the private model; the answer comes in a thread', usage_hint: 'your question' },
  { command: '/imagine', description: 'Make a picture (/imagine help for the options)', usage_hint: 'a prompt --steps 20 --seed 7 --size 768x512 --no "text"' },
  { command: '/hearth', description: 'Your queue, cancel, forget, status, knowledge', usage_hint: 'queue | cancel | forget | status | knowledge status | knowledge drop #channel | help' },
] as const;

export interface ManifestOptions {
  name?: string;
  mode: 'socket' | 'http';
  /** HTTP mode: the public URL of `/slack/events` (e.g. https://hearth.example.org/slack/events). */
  requestUrl?: string;
  /** Workspace knowledge is configured (`knowledge.slackChannels`): its scopes and events are added. */
  knowledge?: boolean;
}

/** The manifest as an object (JSON is valid manifest syntax). */
export function slackAppManifest(opts: ManifestOptions): Record<string, unknown> {
  const name = opts.name ?? 'hearth';
  const http = opts.mode === 'http';
  if (http && !opts.requestUrl) throw new Error('an HTTP-mode manifest needs requestUrl (the public URL of /slack/events)');
  const url = http ? { url: opts.requestUrl } : {};
  return {
    display_information: { name, description: 'Questions and pictures from a shared home GPU' },
    features: {
      app_home: { home_tab_enabled: false, messages_tab_enabled: true, messages_tab_read_only_enabled: false },
      bot_user: { display_name: name, always_online: true },
      slash_commands: SLASH_COMMANDS.map((c) => ({ ...c, ...url, should_escape: false })),
    },
    oauth_config: { scopes: { bot: [...Object.keys(BOT_SCOPES), ...(opts.knowledge ? Object.keys(KNOWLEDGE_SCOPES) : [])] } },
    settings: {
      event_subscriptions: { ...(http ? { request_url: opts.requestUrl } : {}), bot_events: ['app_mention', 'message.im', ...(opts.knowledge ? KNOWLEDGE_EVENTS : [])] },
      interactivity: { is_enabled: true, ...(http ? { request_url: opts.requestUrl } : {}) },
      org_deploy_enabled: false,
      socket_mode_enabled: !http,
      token_rotation_enabled: false,
    },
  };
}
