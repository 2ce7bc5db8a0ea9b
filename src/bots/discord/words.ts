import { endedVerb, errorText } from '../../commands/wording.js';
import type { ErrorInfo } from '../../engine/types.js';
import { kindWord } from './text.js';

/**
 * An expected failure in plain words, as Discord users read it: the shared wording, a few codes
 * reworded. Every code has a case, so a new code is worded here (or passed on) on purpose.
 */
export function problemText(error: ErrorInfo): string {
  switch (error.code) {
    case 'MODEL_MISSING':
      return `That isn't set up on this hearth yet: ${error.message}. An admin can add it to the config.`;
    case 'HOST_NOT_ALLOWED':
      return 'hearth only downloads images from Discord’s own file servers. Attach the image to your message instead of linking it.';
    case 'ALREADY_ENDED':
      // Discord's buttons sit on the job's own message: name what it made ("That image…").
      return `That ${kindWord(error.facts.kind)} has already ${endedVerb(error.facts.state)}.`;
    case 'QUEUE_FULL':
    case 'DAILY_LIMIT':
    case 'INVALID_INPUT':
    case 'PROMPT_TOO_LONG':
    case 'MODEL_INVALID':
    case 'MODEL_TOO_LARGE':
    case 'WORKER_CRASHED':
    case 'RUNNER_FAILED':
    case 'ABORTED':
    case 'TIMED_OUT':
    case 'NOT_FOUND':
    case 'FORBIDDEN':
    case 'SHUTTING_DOWN':
    case 'IMAGE_INVALID':
    case 'IMAGE_TOO_LARGE':
    case 'DOWNLOAD_FAILED':
      return errorText(error);
    default:
      return error satisfies never;
  }
}
