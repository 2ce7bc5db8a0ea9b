/**
 * What the conformance suite needs from a platform: a {@link PlatformDriver} drives one platform from
 * the outside, as its users would (through the fake platform server, or the web console's HTTP API),
 * and reads back what they would see. The suite (suite.ts) asserts the same behaviours through every
 * driver; a driver never decides whether a behaviour passed.
 */
import type { HearthApp } from '../../src/app/hearth-app.js';
import type { SimAppOptions } from '../helpers/sim-app.js';
import type { SimFaults } from '../helpers/sim-faults.js';

/** How every driver sets up its hearth, so the same limits hold everywhere. */
export interface ConformanceSetup {
  /** limits.maxQueuedPerUser */
  maxQueuedPerUser: number;
  /** Simulated chat step (one word a step). */
  chatStepMs: number;
  /** Simulated image step: long enough that a 60-step image is still running when it is cancelled. */
  imageStepMs: number;
  /**
   * The real image runner on this export (`models.image` keys, `dir` at least) in place of the
   * simulated one: the faces then deliver the model's own pictures (image-model-suite.ts).
   */
  image?: SimAppOptions['realImage'];
}

/** Where an error reached the user: only them inside a shared space, only their own session, or everyone. */
export type Visibility = 'ephemeral' | 'requester' | 'public';

/**
 * Behaviours a platform genuinely shows in different ways, declared instead of skipped: the suite
 * asserts the declared variant.
 */
export interface Capabilities {
  /** Can a reply in a shared space be shown to the requester alone (Discord/Slack ephemeral)? The web console has no shared space. */
  ephemeral: boolean;
  /** A command that shows the caption (`command`), or images only described for a chat that sees the description (`chat-context`). */
  caption: 'command' | 'chat-context';
  /** Each new /ask opens its own conversation (a thread), or the user has one conversation (a browser session). */
  conversations: 'per-ask' | 'per-user';
  /** The platform itself holds the option bounds (Discord's min_value/max_value, the console's /api/info limits). */
  optionBounds: boolean;
  /**
   * How an option hearth does not offer reaches it: `registered`, the platform sends only the options
   * registered (Discord: an option left out cannot be given); `free`, people type or post anything
   * (Slack's flags, the console's API), so hearth must refuse it in words.
   */
  options: 'registered' | 'free';
}

export interface DriverUser {
  readonly name: string;
  /** The platform-qualified id hearth knows the user by (`slack:U1`, `web:<session>`). */
  readonly userId: string;
}

/** An opaque handle on a conversation (a thread, a browser session), as the driver made it. */
export interface Conversation {
  readonly key: string;
}

export interface Shown {
  /** The words the user sees, decorations (markup, cursors) as the platform renders them. */
  text: string;
  visibility: Visibility;
}

export interface Answer {
  /** The final answer as the user sees it once it is complete (every part, joined). */
  text: string;
  /** Earlier versions of the answer the user saw while it streamed (only versions showing answer text), oldest first. */
  views: string[];
  jobId: string;
  conversation: Conversation;
}

/** A question asked and stored (its chat job queued), not yet answered. */
export interface PendingAsk {
  /** The chat job that answers it. */
  jobId: string;
  conversation: Conversation;
  /** The driver's own handle on what the question showed (an interaction, a thread, a card). */
  readonly handle: unknown;
}

export interface AskOptions {
  /** A follow-up in this conversation (a new one when absent). */
  conversation?: Conversation;
  /** An image attached to the question (PNG bytes): it is described for the chat first. */
  image?: Uint8Array;
}

export interface ImagineOptions {
  prompt: string;
  width?: number;
  height?: number;
  steps?: number;
  seed?: number;
  guidance?: number;
  /** An image to start from (PNG bytes): image-to-image, given the way the platform takes a file. */
  image?: Uint8Array;
  /** With an image: how much to change it (0–1). */
  strength?: number;
}

/** A Vary pressed on a finished picture: the variation job it queued, and what the face shows of it once it ended. */
export interface Variation {
  jobId: string;
  text: string;
  /** The PNG bytes the face delivered for the variation. */
  png: Uint8Array;
}

export interface Picture {
  /** The PNG bytes delivered to the user. */
  png: Uint8Array;
  /** The words shown with the picture. */
  text: string;
  /** The seed as read from what is shown (undefined when none is shown). */
  seed: number | undefined;
  jobId: string;
}

export interface CaptionShown {
  text: string;
  /** The job whose result carries the caption: the caption job, or (chat-context) the chat job that was given it. */
  jobId: string;
}

export interface PlatformDriver {
  readonly name: string;
  readonly capabilities: Capabilities;
  /** The hearth behind the platform, for checks on the engine's side (job payloads, states). */
  readonly app: HearthApp;
  /** The credentials this platform was configured with; none may reach a user. */
  readonly secrets: readonly string[];

  user(name: string): Promise<DriverUser>;
  /** The simulated GPU's faults (a failing captioner, a worker crash, a chat held at a step), shared by every hearth the driver starts. */
  readonly faults: SimFaults;

  /** Asks a question (a new conversation, or a follow-up in `conversation`) and waits for the finished answer. */
  ask(user: DriverUser, prompt: string, opts?: AskOptions): Promise<Answer>;
  /** Asks a question, the way a person does, and returns once its chat job is stored. */
  startAsk(user: DriverUser, prompt: string, opts?: AskOptions): Promise<PendingAsk>;
  /** Waits for the finished answer of a question asked with {@link startAsk}. */
  answer(asked: PendingAsk): Promise<Answer>;
  /**
   * What the question shows now, as the person sees it: one entry per message (or card) that is there
   * (not deleted) in its conversation since it was asked, each as its words read, oldest first.
   */
  shows(asked: PendingAsk): Promise<string[]>;
  /**
   * Stops hearth (app.close(), as a restart does) and starts a new one on the same data dir, connected to
   * the same platform. With `describeGate`, the new hearth's GPU worker is still starting until it settles:
   * this returns once the platform is connected, and commands sent meanwhile find hearth starting.
   */
  restart(opts?: { describeGate?: Promise<void> }): Promise<void>;
  /** Clears a conversation's memory; what the user is told. */
  forget(user: DriverUser, conversation: Conversation): Promise<Shown>;
  /** Makes a picture and waits until it is delivered. */
  imagine(user: DriverUser, opts: ImagineOptions): Promise<Picture>;
  /** Asks for a picture and returns once the job is queued, without waiting for it. */
  startImagine(user: DriverUser, opts: ImagineOptions): Promise<{ jobId: string }>;
  /** Asks for a picture that must be refused; the error the user sees. Throws if it was accepted instead. */
  refusedImagine(user: DriverUser, opts: ImagineOptions): Promise<Shown>;
  caption(user: DriverUser, png: Uint8Array): Promise<CaptionShown>;
  /** Presses a Vary button (`subtle` or `strong`) on a picture the user made, and waits for the variation to end. */
  vary(user: DriverUser, jobId: string, variation: 'subtle' | 'strong'): Promise<Variation>;
  /** What a person reads where they choose an image's options (option descriptions and choices, a help text, the form's data). */
  imagineChoices(): Promise<string>;
  /** Whether /imagine offers an image to start from (Discord's registered options, Slack's help, the console's form). */
  offersStartImage(): Promise<boolean>;
  /** The Vary buttons shown with a finished picture the user made (their ids: `subtle`, `strong`), once its Reroll button is there. */
  varyButtons(jobId: string): Promise<string[]>;
  /** Cancels a job the user started, the way the user would (its Cancel button); what they are told. */
  cancel(user: DriverUser, jobId: string): Promise<Shown>;
  /** The commands a user of this platform can type, without the slash (as installed or registered). */
  offeredCommands(): Promise<string[]>;
  /** The steps bounds the platform itself declares ({@link Capabilities.optionBounds}); undefined without. */
  declaredStepsRange(): Promise<{ min?: number; max: number } | undefined>;
  /**
   * As text: `shown`, everything users saw (messages with every version of them, errors, captions);
   * `recorded`, every payload the platform recorded or served (auth headers left out).
   */
  exposed(): Promise<{ shown: string[]; recorded: string[] }>;
  /** What hearth handed to reportError, and requests the fake platform could not route. */
  reported(): string[];
  close(): Promise<void>;
}
