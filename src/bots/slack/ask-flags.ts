/**
 * `/ask` options as flags in the command text (Slack slash commands take one line of text):
 * `/ask --adapter pirate how do I undo a git commit?`. Only when `models.chat.adapters` names
 * adapters; otherwise the text is the question as typed, `--adapter` included. The name is checked
 * by the ask command (same words as on the other platforms), not here.
 */
import { err, type ErrorInfo, ok, type Result } from '../../engine/types.js';
import type { AskInput } from '../../commands/hearth-commands.js';

/** `--adapter NAME`, `--adapter=NAME`, with `—`/`–` for `--` as phones and Macs autocorrect it. */
const ADAPTER_FLAG = /(^|\s)(?:--|\u2014|\u2013)adapter(?:=(\S*)|(?=\s|$)\s*(\S*))/i;

/** The question and the adapter it names; `adapters` are the configured names (none: no flags). */
export function parseAskText(text: string, adapters: readonly string[]): Result<Pick<AskInput, 'prompt' | 'adapter'>> {
  if (adapters.length === 0) return ok({ prompt: text.trim() });
  const m = ADAPTER_FLAG.exec(text);
  if (!m) return ok({ prompt: text.trim() });
  const name = m[2] ?? m[3] ?? '';
  if (name === '' || /^(?:--|\u2014|\u2013)/.test(name))
    return err<ErrorInfo>({
      code: 'INVALID_INPUT',
      message: `--adapter needs the name of an adapter after it; the adapters are: ${adapters.join(', ')}`,
      facts: { option: 'adapter', given: '', allowed: [...adapters] },
    });
  const prompt = (text.slice(0, m.index) + (m[1] ?? '') + text.slice(m.index + m[0].length)).replace(/\s+/g, ' ').trim();
  return ok({ prompt, adapter: name });
}

/** The help line for `--adapter` (nothing without adapters). */
export function askAdapterHelp(adapters: readonly string[]): string {
  return adapters.length === 0 ? '' : `\n• \`/ask --adapter NAME QUESTION\` — answer with a fine-tuned adapter: ${adapters.map((a) => `\`${a}\``).join(', ')}`;
}
