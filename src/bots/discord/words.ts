import { errorText } from '../../commands/wording.js';
import type { ErrorInfo } from '../../engine/types.js';

/** An expected failure in plain words, as Discord users read it (the shared wording, a few codes reworded). */
export function problemText(error: ErrorInfo): string {
  switch (error.code) {
    case 'MODEL_MISSING':
      return `That isn't set up on this hearth yet: ${error.message}. An admin can add it to the config.`;
    case 'HOST_NOT_ALLOWED':
      return 'hearth only downloads images from Discord’s own file servers. Attach the image to your message instead of linking it.';
    default:
      return errorText(error);
  }
}
