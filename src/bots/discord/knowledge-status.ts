/**
 * `/hearth knowledge status` on Discord: the shared status (src/commands/knowledge-admin.ts) laid out as
 * one message, its headline in bold, fitted to Discord's 2,000 characters (channels past that are
 * counted, not cut in half).
 */
import { fitKnowledgeStatus, knowledgeStatusLines, type KnowledgeStatusView } from '../../commands/knowledge-admin.js';
import { MESSAGE_LIMIT } from './split.js';

export function knowledgeStatusMessage(v: KnowledgeStatusView, now: number): string {
  const [head = '', ...rest] = knowledgeStatusLines(v, now);
  return fitKnowledgeStatus([`**${head}**`, ...rest], MESSAGE_LIMIT);
}
