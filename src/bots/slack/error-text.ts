import { errorText, type FaceWords } from '../../commands/wording.js';
import type { ErrorInfo } from '../../engine/types.js';

/** Slack's own ways of doing things, for the shared words (src/commands/wording.ts): there is no `/cancel` in Slack. */
export const SLACK_WORDS: FaceWords = { cancelCommand: '`/hearth cancel` or the Cancel button' };

/** An expected failure in plain words, as Slack users read it: the shared words, Slack's ways. */
export function slackErrorText(error: ErrorInfo): string {
  return errorText(error, SLACK_WORDS);
}
