import type { EndedState, ErrorInfo } from '../engine/types.js';

/**
 * What differs between faces in the words for a failure: only the face's own ways of doing things
 * (how to cancel, where images come from), never the wording itself. Each adapter gives its own and
 * formats the text it gets back (markdown flavour, emoji); the sentences are decided in {@link errorText}.
 */
export interface FaceWords {
  /** How a person cancels a job on this face, as the QUEUE_FULL advice names it; `/cancel` by default. */
  cancelCommand?: string;
  /**
   * Where this face downloads images from and how a person gives one, for HOST_NOT_ALLOWED; without
   * it, the error's own message (the host given and that it is not allowed) is said.
   */
  images?: { hosts: string; howToGive: string };
}

const KIND_WORD: Record<string, string> = { chat: 'answer', image: 'image', caption: 'caption' };

/** What a job of this kind makes, as people call it: an answer, an image, a caption. */
export function kindWord(kind: string): string {
  return KIND_WORD[kind] ?? kind;
}

/**
 * Plain words for an expected failure, the same on Discord, Slack and the console: the one place they
 * are decided (a face passes only its own ways of doing things, {@link FaceWords}). Never a stack trace.
 * Every code has a case: a new code does not compile until it is worded here.
 */
export function errorText(error: ErrorInfo, face: FaceWords = {}): string {
  switch (error.code) {
    case 'QUEUE_FULL': {
      const f = error.facts;
      // Each platform names its own way to cancel (Slack has `/hearth cancel`, not `/cancel`).
      return `You already have ${f.given - 1} jobs waiting or running (the limit is ${f.allowed}). Wait for one to finish, or cancel one with ${face.cancelCommand ?? '/cancel'}.`;
    }
    case 'DAILY_LIMIT':
      return `You have used your GPU time for today (${error.facts.given} of ${error.facts.allowed} GPU-seconds). It resets at midnight UTC.`;
    case 'MODEL_MISSING':
      return `That isn't set up on this hearth yet: ${error.message}. An admin can add it to the config and run \`hearth models pull\`.`;
    case 'MODEL_INVALID':
    case 'MODEL_TOO_LARGE':
      return `The model could not be loaded: ${error.message}. An admin should check it with \`hearth doctor\`.`;
    case 'WORKER_CRASHED':
      return `Sorry, this job failed: ${error.message}.`;
    case 'SHUTTING_DOWN':
      return 'hearth is restarting. Please try again in a minute.';
    case 'FORBIDDEN':
      return `You can't do that: ${error.message}.`;
    case 'NOT_FOUND':
      return capital(error.message) + '.';
    case 'ALREADY_ENDED':
      // Named by what it made ("That image…"): people know answers and images, not "chat jobs".
      return `That ${kindWord(error.facts.kind)} has already ${endedVerb(error.facts.state)}.`;
    case 'RUNNER_FAILED':
      return 'Sorry, something went wrong while running this job. The admin can find the details in the log.';
    case 'ABORTED':
      return 'This job was stopped before it finished. Please try again.';
    case 'TIMED_OUT':
      return 'This job took too long and was stopped. Please try again.';
    case 'HOST_NOT_ALLOWED':
      if (face.images) return `hearth only downloads images from ${face.images.hosts}. ${face.images.howToGive}`;
      return sentence(error.message);
    case 'INVALID_INPUT':
    case 'PROMPT_TOO_LONG':
    case 'IMAGE_INVALID':
    case 'IMAGE_TOO_LARGE':
    case 'DOWNLOAD_FAILED':
      // The message already says what was given and what is allowed.
      return sentence(error.message);
    default:
      return error satisfies never;
  }
}

/** How an ended job ended, as "has already …" goes on: a job that is done has finished; the rest ended. */
export function endedVerb(state: EndedState): string {
  return state === 'done' ? 'finished' : 'ended';
}

/** "about 40 s", "about 3 min" — for queue positions. */
export function etaText(seconds: number): string {
  if (seconds < 1) return 'any moment now';
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min`;
  return `about ${(seconds / 3600).toFixed(1)} h`;
}

/**
 * The wait of a queued job, the same words on every face: its place in line, or, while hearth is
 * still starting (the model not up yet), that it is saved and will run.
 */
export function waitText(queued: { position: number; etaSeconds: number; starting?: boolean } | undefined): string {
  if (!queued) return 'Getting in line…';
  if (queued.starting) {
    const where = queued.position === 0 ? "You're first in line" : `You're ${ordinal(queued.position + 1)} in line`;
    return `hearth is starting up. ${where}; your request is saved and runs as soon as the model is ready.`;
  }
  return queuedText(queued.position, queued.etaSeconds);
}

/** "You're next" / "3rd in line" with the ETA. */
export function queuedText(position: number, etaSeconds: number): string {
  const where = position === 0 ? "You're next" : `${ordinal(position + 1)} in line`;
  return `${where} — starts in ${etaText(etaSeconds)}.`;
}

export function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

function capital(s: string): string {
  return s.length > 0 ? s[0]!.toUpperCase() + s.slice(1) : s;
}

/** A message as a sentence: capital first, one full stop at the end. */
function sentence(s: string): string {
  return capital(s) + (s.endsWith('.') ? '' : '.');
}
