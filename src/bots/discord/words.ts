import { errorText, type FaceWords } from '../../commands/wording.js';
import type { ErrorInfo } from '../../engine/types.js';

/** Discord's own ways of doing things, for the shared words (src/commands/wording.ts). */
export const DISCORD_WORDS: FaceWords = {
  cancelCommand: '/cancel',
  images: { hosts: 'Discord’s own file servers', howToGive: 'Attach the image to your message instead of linking it.' },
};

/** An expected failure in plain words, as Discord users read it: the shared words, Discord's ways. */
export function problemText(error: ErrorInfo): string {
  return errorText(error, DISCORD_WORDS);
}
