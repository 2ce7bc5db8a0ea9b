import { errorText } from '../../commands/wording.js';
import type { ErrorInfo } from '../../engine/types.js';

/** The shared wording, with Slack's own way to cancel (there is no `/cancel` command in Slack). */
export function slackErrorText(error: ErrorInfo): string {
  return errorText(error, { cancelCommand: '`/hearth cancel` or the Cancel button' });
}
