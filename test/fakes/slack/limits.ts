/**
 * What Slack refuses in a message, with Slack's error: `invalid_blocks` (with `errors` and
 * `response_metadata.messages` naming each broken field by JSON pointer) for blocks past Block Kit's
 * limits, `msg_too_long` for text past 40,000 characters.
 */

type Json = Record<string, unknown>;

export const LIMITS = {
  blocks: 50,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  actionId: 255,
  buttonValue: 2000,
  blockId: 255,
  imageAltText: 2000,
  messageText: 40_000,
} as const;

/** The error body Slack answers with, or undefined when Slack takes the message. */
export function checkSlackMessage(args: Json): Json | undefined {
  if (typeof args.text === 'string' && args.text.length > LIMITS.messageText) return { ok: false, error: 'msg_too_long' };
  if (args.blocks === undefined) return undefined;
  const errors = blockErrors(args.blocks);
  if (errors.length === 0) return undefined;
  return { ok: false, error: 'invalid_blocks', errors, response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } };
}

function blockErrors(blocks: unknown): string[] {
  const out: string[] = [];
  const err = (what: string, pointer: string) => out.push(`${what} [json-pointer:${pointer}]`);
  if (!Array.isArray(blocks)) {
    err('must be an array', '/blocks');
    return out;
  }
  if (blocks.length > LIMITS.blocks) err(`must be less than ${LIMITS.blocks + 1} items`, '/blocks');
  const textObject = (t: unknown, at: string, max: number, types: string[] = ['mrkdwn', 'plain_text']) => {
    if (typeof t !== 'object' || t === null) return err('must be an object', at);
    const o = t as Json;
    if (!types.includes(String(o.type))) err(`must be one of ${types.join(', ')}`, `${at}/type`);
    if (typeof o.text !== 'string' || o.text.length === 0) err('must be more than 0 characters', `${at}/text`);
    else if (o.text.length > max) err(`must be less than ${max + 1} characters`, `${at}/text`);
  };
  const blockIds = new Set<string>();
  for (const [i, raw] of (blocks as Json[]).entries()) {
    const b = raw ?? {};
    const at = `/blocks/${i}`;
    if (b.block_id !== undefined) {
      const id = String(b.block_id);
      if (id.length > LIMITS.blockId) err(`must be less than ${LIMITS.blockId + 1} characters`, `${at}/block_id`);
      if (blockIds.has(id)) err('duplicate block_id', `${at}/block_id`);
      blockIds.add(id);
    }
    switch (b.type) {
      case 'section': {
        if (b.text === undefined && b.fields === undefined) err('must provide either text or fields', at);
        if (b.text !== undefined) textObject(b.text, `${at}/text`, LIMITS.sectionText);
        if (b.fields !== undefined) {
          const fields = Array.isArray(b.fields) ? b.fields : [];
          if (fields.length > LIMITS.sectionFields) err(`must be less than ${LIMITS.sectionFields + 1} items`, `${at}/fields`);
          for (const [j, f] of fields.entries()) textObject(f, `${at}/fields/${j}`, LIMITS.fieldText);
        }
        break;
      }
      case 'header':
        textObject(b.text, `${at}/text`, LIMITS.headerText, ['plain_text']);
        break;
      case 'context': {
        const els = Array.isArray(b.elements) ? (b.elements as Json[]) : [];
        if (els.length === 0) err('must be more than 0 items', `${at}/elements`);
        if (els.length > LIMITS.contextElements) err(`must be less than ${LIMITS.contextElements + 1} items`, `${at}/elements`);
        for (const [j, e] of els.entries()) if (e.type !== 'image') textObject(e, `${at}/elements/${j}`, LIMITS.sectionText);
        break;
      }
      case 'actions': {
        const els = Array.isArray(b.elements) ? (b.elements as Json[]) : [];
        if (els.length === 0) err('must be more than 0 items', `${at}/elements`);
        if (els.length > LIMITS.actionsElements) err(`must be less than ${LIMITS.actionsElements + 1} items`, `${at}/elements`);
        const actionIds = new Set<string>();
        for (const [j, e] of els.entries()) {
          const ep = `${at}/elements/${j}`;
          if (e.type === 'button') {
            textObject(e.text, `${ep}/text`, LIMITS.buttonText, ['plain_text']);
            if (typeof e.value === 'string' && e.value.length > LIMITS.buttonValue) err(`must be less than ${LIMITS.buttonValue + 1} characters`, `${ep}/value`);
          }
          if (e.action_id !== undefined) {
            const id = String(e.action_id);
            if (id.length > LIMITS.actionId) err(`must be less than ${LIMITS.actionId + 1} characters`, `${ep}/action_id`);
            if (actionIds.has(id)) err('duplicate action_id', `${ep}/action_id`);
            actionIds.add(id);
          }
        }
        break;
      }
      case 'image':
        if (typeof b.alt_text !== 'string' || b.alt_text.length === 0) err('must be more than 0 characters', `${at}/alt_text`);
        else if (b.alt_text.length > LIMITS.imageAltText) err(`must be less than ${LIMITS.imageAltText + 1} characters`, `${at}/alt_text`);
        break;
      case 'divider':
      case 'rich_text':
      case 'markdown':
      case 'file':
      case 'input':
      case 'video':
        break;
      default:
        err(`unsupported type "${String(b.type)}"`, `${at}/type`);
    }
  }
  return out;
}
