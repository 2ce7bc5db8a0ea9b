import { errorText } from '../../commands/wording.js';
import type { ErrorInfo } from '../../engine/types.js';

/** How a Slack user cancels (there is no `/cancel` command in Slack). */
const CANCEL = '`/hearth cancel` or the Cancel button';

/**
 * An expected failure in plain words, as Slack users read it: the shared wording, with Slack's own way
 * to cancel. Every code has a case, so a new code is worded here (or passed on) on purpose.
 */
export function slackErrorText(error: ErrorInfo): string {
  switch (error.code) {
    case 'QUEUE_FULL':
      return errorText(error, { cancelCommand: CANCEL });
    case 'DAILY_LIMIT':
    case 'INVALID_INPUT':
    case 'PROMPT_TOO_LONG':
    case 'MODEL_MISSING':
    case 'MODEL_INVALID':
    case 'MODEL_TOO_LARGE':
    case 'WORKER_CRASHED':
    case 'RUNNER_FAILED':
    case 'ABORTED':
    case 'TIMED_OUT':
    case 'NOT_FOUND':
    case 'ALREADY_ENDED':
    case 'FORBIDDEN':
    case 'SHUTTING_DOWN':
    case 'IMAGE_INVALID':
    case 'IMAGE_TOO_LARGE':
    case 'DOWNLOAD_FAILED':
    case 'HOST_NOT_ALLOWED':
      return errorText(error);
    default:
      return error satisfies never;
  }
}
