/**
 * One way to act on a fake platform, and to read what a person there sees, for the kill -9 tests of a
 * whole hearth (test/integration/app-kill9.test.ts, test/integration/fault-injection.test.ts): the
 * fakes run in the test process, hearth in a process of its own (test/fixtures/app-host.ts).
 */
import { readFileSync } from 'node:fs';
import { EPHEMERAL, FakeDiscord, type FakeAttachment, type FakeInteraction, type FakeMessage, type FakeUser } from '../fakes/discord/fake-discord.js';
import { ephemeralText } from '../fakes/discord/assertions.js';
import { discordSecrets } from '../fakes/discord/harness.js';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { SlackHarness, slackSecrets } from '../fakes/slack/harness.js';
import { slashCommand } from '../fakes/slack/payloads.js';
import { buttonsOf, shownText, type FakeMessage as SlackMessage } from '../fakes/slack/state.js';
import { until } from './app-host-process.js';

/** A command a person gave, as the driver tracks it. */
export interface Handle {
  readonly id: string;
  readonly kind: 'chat' | 'image' | 'caption';
}

export interface PlatformDriver {
  /** The config sections that point hearth at the fake. */
  config(): Record<string, unknown>;
  /** The platform's id of a person (hearth's user id ends with it). */
  userKey(name: string): string;
  ask(user: string, text: string): Handle;
  imagine(user: string, prompt: string, steps: number): Handle;
  caption(user: string, png: Uint8Array): Handle;
  /** The platform has the command's acknowledgement. */
  acknowledged(h: Handle): boolean;
  /** Part of an answer is shown (still being written). */
  partialShown(h: Handle): boolean;
  /** All text shown for a command (reply and follow-ups, or the thread), in order. */
  shownText(h: Handle): string;
  /** An image's progress is shown. */
  progressShown(h: Handle): boolean;
  /** The finished answer (chat) or caption as shown, or null while it is not finished. */
  finalAnswer(h: Handle): string | null;
  /** Finished images shown for an /imagine. */
  finalImages(h: Handle): number;
  /** The failure its owner was told, or null. */
  failureShown(h: Handle): string | null;
  /** What is still shown for these commands that is not part of their one final answer (stale partials, progress, a second answer). */
  leftovers(hs: readonly Handle[]): string[];
  /** Requests the fake refused or did not expect. */
  platformErrors(): unknown[];
  /**
   * Ids of the messages the platform shows for a command that hearth must find again after a restart
   * (Discord's follow-ups; Slack's root, status and answer messages). A test kills hearth only once
   * each of them is in the job's stored origin: a kill -9 between the platform creating a message and
   * hearth storing its id would leave a message no restart can know of (see app-kill9.test.ts).
   */
  postedIds(h: Handle): string[];
  /**
   * Holds the platform's reply to the next request that makes a new answer message (Slack:
   * chat.startStream; Discord: an interaction follow-up), after the platform made it: `held()` once it exists. A kill -9 then lands in
   * the window between the platform creating the message and hearth storing its id.
   */
  holdNextAnswerMessage(): { held(): boolean; release(): void };
  /**
   * Holds the platform's reply to the next edit of a command's own message (Discord: the reply,
   * `PATCH …/messages/@original`; Slack: the status message, chat.update). The answer's view sends
   * one call at a time, so while it is held the job can run to its end before the view shows
   * anything more: the final render then makes every further message after the job ended.
   */
  holdNextReplyEdit(): { held(): boolean; release(): void };
  /** What the platform shows for a command, for a failure message. */
  describe(h: Handle): string;
  until(cond: () => boolean, what: string, ms?: number): Promise<void>;
  /** Fails when a credential of the fake is in the log file. */
  assertNoSecretsIn(logFile: string): void;
  close(): Promise<void>;
}

function checkLog(logFile: string, secrets: Record<string, string>): void {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return;
  }
  for (const [name, value] of Object.entries(secrets)) if (text.includes(value)) throw new Error(`${name} is in the log ${logFile}`);
}

const isPng = (a: FakeAttachment) => a.content_type === 'image/png' && a.filename.startsWith('hearth-');

export async function discordDriver(): Promise<PlatformDriver> {
  const fake = await FakeDiscord.start();
  const users = new Map<string, FakeUser>();
  const its = new Map<string, FakeInteraction>();
  const person = (name: string) => users.get(name) ?? users.set(name, fake.user(name)).get(name)!;
  const track = (kind: Handle['kind'], it: FakeInteraction): Handle => (its.set(it.id, it), { id: it.id, kind });
  const it = (h: Handle) => its.get(h.id)!;
  /** The reply and follow-ups a person still sees (public ones). */
  const visible = (h: Handle): FakeMessage[] =>
    [fake.original(it(h)), ...fake.followups(it(h))].filter((m): m is FakeMessage => !!m && !m.deleted && (m.flags & EPHEMERAL) === 0);
  const finalAnswer = (h: Handle): string | null => {
    const msgs = visible(h);
    if (msgs.length === 0 || msgs.some((m) => m.content.includes('▌') || (h.kind === 'chat' && m.components.length > 0))) return null;
    const text = msgs.map((m) => m.content).join('');
    if (h.kind === 'chat') return text.startsWith('echo:') ? text : null;
    return text.includes('a simulated caption') ? text : null;
  };
  return {
    config: () => ({ discord: { token: fake.token, applicationId: fake.applicationId, apiBaseUrl: fake.apiBaseUrl, editIntervalMs: 250 } }),
    userKey: (name) => person(name).id,
    ask: (user, text) => track('chat', fake.slash('ask', { prompt: text }, { user: person(user) })),
    imagine: (user, prompt, steps) => track('image', fake.slash('imagine', { prompt, size: '256x256', steps }, { user: person(user) })),
    caption: (user, png) => track('caption', fake.slash('caption', { image: fake.upload('photo.png', png, 'image/png') }, { user: person(user) })),
    acknowledged: (h) => it(h).callbacks.length > 0,
    partialShown: (h) => fake.followups(it(h)).some((m) => !m.deleted) || (fake.original(it(h))?.content.includes('▌') ?? false),
    shownText: (h) => visible(h).map((m) => m.content).join(''),
    progressShown: (h) => /step \d+ of \d+/.test(fake.original(it(h))?.content ?? ''),
    finalAnswer,
    finalImages: (h) => {
      const msgs = visible(h);
      if (msgs.some((m) => m.components.length > 0 && JSON.stringify(m.components).includes('hearth:cancel:'))) return 0;
      return msgs.reduce((n, m) => n + m.attachments.filter(isPng).length, 0);
    },
    // Told privately while the interaction's token works; in the channel, mentioning them, after.
    failureShown: (h) => {
      const note = ephemeralText(fake, it(h));
      if (note !== null) return note;
      const i = it(h);
      const told = fake.messagesIn(i.channelId).find((m) => !m.deleted && m.content.startsWith(`<@${i.userId}> ⚠️`));
      if (told) return told.content;
      // An answer that had begun keeps its text, with why it stopped under it, in its own reply.
      const kept = visible(h).find((m) => m.content.includes('\n\n⚠️ '));
      return kept?.content ?? null;
    },
    leftovers: (hs) => {
      const out: string[] = [];
      for (const h of hs) {
        const msgs = visible(h);
        const failed = ephemeralText(fake, it(h)) !== null;
        if (failed && msgs.length > 0) out.push(`${h.kind} ${h.id}: failed, yet ${msgs.length} public message(s) remain`);
        for (const m of msgs) {
          if (m.content.includes('▌')) out.push(`${h.kind} ${h.id}: a partial answer ${m.id}`);
          if (JSON.stringify(m.components).includes('hearth:cancel:')) out.push(`${h.kind} ${h.id}: a Cancel button on ${m.id}`);
          if (h.kind === 'image' && !failed && m.attachments.filter(isPng).length === 0) out.push(`image ${h.id}: a message without the image ${m.id}`);
        }
        if (h.kind === 'image' && msgs.reduce((n, m) => n + m.attachments.filter(isPng).length, 0) > 1) out.push(`image ${h.id}: shown more than once`);
        const ids = new Set(msgs.map((m) => m.id));
        const stray = [...fake.state.messages.values()].filter((m) => m.interactionId === h.id && !m.deleted && (m.flags & EPHEMERAL) === 0 && !ids.has(m.id));
        for (const m of stray) out.push(`${h.kind} ${h.id}: a stray message ${m.id}`);
      }
      return out;
    },
    postedIds: (h) => fake.followups(it(h)).filter((m) => !m.deleted && (m.flags & EPHEMERAL) === 0).map((m) => m.id),
    // A follow-up (POST /webhooks/{app}/{token}): the answer's second message, after its reply.
    holdNextAnswerMessage: () => fake.holdReply('POST', /^\/webhooks\/\d+\/[^/]+$/),
    holdNextReplyEdit: () => fake.holdReply('PATCH', /^\/webhooks\/\d+\/[^/]+\/messages\/@original$/),
    platformErrors: () => [...fake.state.errors, ...fake.state.unexpected],
    describe: (h) =>
      JSON.stringify([fake.original(it(h)), ...fake.followups(it(h))].map((m) => m && { id: m.id, deleted: m.deleted, flags: m.flags, content: m.content.slice(0, 300), files: m.attachments.map((a) => a.filename), buttons: m.components.length, history: m.history.length })),
    until: (cond, what, ms) => until(cond, what, ms),
    assertNoSecretsIn: (logFile) => checkLog(logFile, discordSecrets(fake)),
    close: () => fake.close(),
  };
}

export async function slackDriver(): Promise<PlatformDriver> {
  const fake = new FakeSlack();
  await fake.start();
  let channels = 0;
  const handles = new Map<string, { channel: string; acked: boolean; kind: Handle['kind'] }>();
  const command = (kind: Handle['kind'], name: string, text: string, user: string): Handle => {
    const channel = `C${++channels}`;
    // A channel the app is in, so it may read its threads (conversations.replies), as in Slack.
    fake.history.addChannel(channel);
    const entry = { channel, acked: false, kind };
    handles.set(channel, entry);
    const body = slashCommand(name, text, { user: `U${user.toUpperCase()}`, channel, responseUrl: fake.responseUrl() });
    void fake.sendEnvelope('slash_commands', body).then(() => (entry.acked = true));
    return { id: channel, kind };
  };
  const root = (h: Handle): SlackMessage | undefined => fake.state.topLevel(h.id)[0];
  const thread = (h: Handle): SlackMessage[] => {
    const r = root(h);
    return r ? fake.state.thread(h.id, r.ts) : [];
  };
  const textOf = (m: SlackMessage) => (m.stream ? m.text : shownText(m));
  const live = (m: SlackMessage) => (m.stream ? !m.stream.stopped : buttonsOf(m).some((b) => b.action === 'hearth_cancel'));
  return {
    config: () => ({ slack: { ...SlackHarness.slackConfig(fake, 'socket'), allowedTeams: ['T0001'] } }),
    userKey: (name) => `U${name.toUpperCase()}`,
    ask: (user, text) => command('chat', '/ask', text, user),
    imagine: (user, prompt, steps) => command('image', '/imagine', `${prompt} --steps ${steps} --size 256x256`, user),
    caption: () => {
      throw new Error('the Slack driver has no /caption (it needs a file shared in a message)');
    },
    acknowledged: (h) => handles.get(h.id)?.acked === true,
    partialShown: (h) => thread(h).some((m) => m.stream !== undefined && !m.stream.stopped && m.text.length > 0),
    shownText: (h) => thread(h).map(textOf).join(''),
    progressShown: (h) => thread(h).some((m) => /step \d+ of \d+/.test(shownText(m))),
    finalAnswer: (h) => {
      const msgs = thread(h).filter((m) => !m.file);
      if (msgs.length === 0 || msgs.some(live)) return null;
      const text = msgs.map(textOf).join('');
      return text.startsWith('echo:') ? text : null;
    },
    finalImages: (h) => {
      const msgs = thread(h);
      if (msgs.some(live)) return 0;
      return msgs.filter((m) => m.file).length;
    },
    failureShown: (h) => {
      const t = thread(h).map(shownText).join('\n');
      return /failed|Sorry/.test(t) ? t : null;
    },
    leftovers: (hs) => {
      const out: string[] = [];
      for (const h of hs) {
        for (const m of thread(h)) {
          if (live(m)) out.push(`${h.kind} ${h.id}: a live message ${m.ts} (${textOf(m).slice(0, 40)})`);
          if (/Painting|step \d+ of/.test(textOf(m))) out.push(`${h.kind} ${h.id}: progress left in ${m.ts}`);
        }
        if (h.kind === 'image' && thread(h).filter((m) => m.file).length > 1) out.push(`image ${h.id}: shown more than once`);
        if (fake.state.topLevel(h.id).length !== 1) out.push(`${h.kind} ${h.id}: ${fake.state.topLevel(h.id).length} top-level messages`);
      }
      return out;
    },
    postedIds: (h) => {
      const r = root(h);
      return r ? [r.ts, ...thread(h).map((m) => m.ts)] : [];
    },
    platformErrors: () => [...fake.refused],
    holdNextAnswerMessage: () => fake.holdReply('chat.startStream'),
    holdNextReplyEdit: () => fake.holdReply('chat.update'),
    describe: (h) => JSON.stringify(fake.state.messages.filter((m) => m.channel === h.id).map((m) => ({ ts: m.ts, thread: m.thread, deleted: m.deleted, text: textOf(m).slice(0, 300), file: !!m.file }))),
    until: (cond, what, ms) => until(cond, what, ms),
    assertNoSecretsIn: (logFile) => checkLog(logFile, slackSecrets(fake)),
    close: () => fake.close(),
  };
}
