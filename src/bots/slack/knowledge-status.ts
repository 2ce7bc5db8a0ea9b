/**
 * `/hearth knowledge status` on Slack: the shared status (src/commands/knowledge-admin.ts) as one
 * mrkdwn message, its headline in bold, fitted to a section block's 3,000 characters (channels past
 * that are counted, not cut in half).
 */
import { fitKnowledgeStatus, knowledgeStatusLines, type KnowledgeStatusView } from '../../commands/knowledge-admin.js';
import { SECTION_CHARS } from './text.js';

export function knowledgeStatusMessage(v: KnowledgeStatusView, now: number): string {
  const [head = '', ...rest] = knowledgeStatusLines(v, now);
  return fitKnowledgeStatus([`*${head}*`, ...rest], SECTION_CHARS);
}
