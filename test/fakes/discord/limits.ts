/**
 * What Discord refuses, with the error Discord gives: `400 {"code": 50035, "message": "Invalid Form
 * Body", "errors": {<path>: {"_errors": [{"code", "message"}]}}}`. Command registrations are checked
 * against Discord's rules for application commands (names, descriptions, option bounds and choices);
 * messages against the message limits (content 2000, 10 embeds with description 4096 and 6000 in
 * all, 10 files, 5 action rows of 5 buttons, custom ids up to 100 characters and unique).
 */

type Body = Record<string, unknown>;

export interface FieldError {
  code: string;
  message: string;
}

/** Discord's nested error tree: keys are field names and array indexes, leaves hold `_errors`. */
export type ErrorTree = { _errors?: FieldError[] } & { [key: string]: ErrorTree | FieldError[] | undefined };

export class FormErrors {
  readonly tree: ErrorTree = {};
  count = 0;

  add(path: Array<string | number>, code: string, message: string): void {
    let node = this.tree;
    for (const key of path) node = (node[String(key)] ??= {}) as ErrorTree;
    (node._errors ??= []).push({ code, message });
    this.count++;
  }

  /** `path: message` lines, for a test's failure message. */
  lines(): string[] {
    const out: string[] = [];
    const walk = (node: ErrorTree, at: string[]): void => {
      for (const [k, v] of Object.entries(node)) {
        if (k === '_errors') for (const e of v as FieldError[]) out.push(`${at.join('.')}: ${e.code} ${e.message}`);
        else walk(v as ErrorTree, [...at, k]);
      }
    };
    walk(this.tree, []);
    return out;
  }
}

const OPTION = { Subcommand: 1, SubcommandGroup: 2, String: 3, Integer: 4, Boolean: 5, User: 6, Channel: 7, Role: 8, Mentionable: 9, Number: 10, Attachment: 11 } as const;
const CHAT_INPUT = 1;
const MAX_SAFE = 2 ** 53;
/** Discord's name rule for chat-input commands and options. */
const NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const len = (n: number, min: number, max: number): boolean => n >= min && n <= max;

function checkLength(e: FormErrors, path: Array<string | number>, v: unknown, min: number, max: number, required: boolean): number {
  const s = str(v);
  if (s === undefined) {
    if (required) e.add(path, 'BASE_TYPE_REQUIRED', 'This field is required');
    return 0;
  }
  if (!len(s.length, min, max)) {
    e.add(path, min > 0 ? 'BASE_TYPE_BAD_LENGTH' : 'BASE_TYPE_MAX_LENGTH', min > 0 ? `Must be between ${min} and ${max} in length.` : `Must be ${max} or fewer in length.`);
  }
  return s.length;
}

function checkName(e: FormErrors, path: Array<string | number>, v: unknown, code: string): number {
  const s = str(v);
  if (s === undefined || !NAME.test(s) || s !== s.toLowerCase()) {
    e.add(path, code, code === 'APPLICATION_COMMAND_INVALID_NAME' ? 'Command name is invalid' : 'Option name is invalid');
  }
  return s?.length ?? 0;
}

/** Checks a bulk overwrite of commands (PUT /applications/{id}/commands): everything Discord checks. */
export function checkCommands(body: unknown): FormErrors {
  const e = new FormErrors();
  if (!Array.isArray(body)) {
    e.add([], 'BASE_TYPE_ARRAY', 'Must be an array.');
    return e;
  }
  if (body.filter((c) => ((c as Body).type ?? CHAT_INPUT) === CHAT_INPUT).length > 100) e.add([], 'BASE_TYPE_MAX_LENGTH', 'Must be 100 or fewer in length.');
  const names = new Set<string>();
  for (const [i, raw] of (body as Body[]).entries()) {
    const c = raw ?? {};
    const type = Number(c.type ?? CHAT_INPUT);
    let chars = 0;
    if (type === CHAT_INPUT) {
      chars += checkName(e, [i, 'name'], c.name, 'APPLICATION_COMMAND_INVALID_NAME');
      chars += checkLength(e, [i, 'description'], c.description, 1, 100, true);
    } else {
      chars += checkLength(e, [i, 'name'], c.name, 1, 32, true);
      if (c.description !== undefined && c.description !== '') e.add([i, 'description'], 'APPLICATION_COMMAND_INVALID_DESCRIPTION', 'Description must be empty for this command type');
    }
    const key = `${type}:${String(c.name)}`;
    if (names.has(key)) e.add([i, 'name'], 'APPLICATION_COMMANDS_DUPLICATE_NAME', `Application command names must be unique`);
    names.add(key);
    if (c.options !== undefined) {
      if (type !== CHAT_INPUT) e.add([i, 'options'], 'APPLICATION_COMMAND_OPTIONS_INVALID', 'Only chat input commands can have options');
      else chars += checkOptions(e, [i, 'options'], c.options, 0);
    }
    if (chars > 4000) e.add([i], 'APPLICATION_COMMAND_TOO_LARGE', 'Command exceeds maximum size (4000)');
  }
  return e;
}

/** Options of a command (depth 0), a group (1) or a subcommand (2). Returns the characters they count. */
function checkOptions(e: FormErrors, path: Array<string | number>, options: unknown, depth: number): number {
  if (!Array.isArray(options)) {
    e.add(path, 'BASE_TYPE_ARRAY', 'Must be an array.');
    return 0;
  }
  if (options.length > 25) e.add(path, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
  let chars = 0;
  let optionalSeen = false;
  const names = new Set<string>();
  const subs = options.filter((o) => [OPTION.Subcommand, OPTION.SubcommandGroup].includes(Number((o as Body).type) as 1 | 2)).length;
  if (subs > 0 && subs < options.length) e.add(path, 'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID', 'Sub-command and sub-command group option types are mutually exclusive to all other types');
  for (const [j, raw] of (options as Body[]).entries()) {
    const o = raw ?? {};
    const at = [...path, j];
    const type = Number(o.type);
    chars += checkName(e, [...at, 'name'], o.name, 'APPLICATION_COMMAND_OPTION_INVALID_NAME');
    chars += checkLength(e, [...at, 'description'], o.description, 1, 100, true);
    if (names.has(String(o.name))) e.add([...at, 'name'], 'APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS', 'Option names must be unique');
    names.add(String(o.name));
    if (!Object.values(OPTION).includes(type as never)) {
      e.add([...at, 'type'], 'BASE_TYPE_CHOICES', `Value must be one of (${Object.values(OPTION).join(', ')}).`);
      continue;
    }
    if (type === OPTION.SubcommandGroup && depth > 0) e.add([...at, 'type'], 'APPLICATION_COMMAND_OPTION_TYPE_INVALID', 'Sub-command groups can only be nested in a command');
    if (type === OPTION.Subcommand && depth > 1) e.add([...at, 'type'], 'APPLICATION_COMMAND_OPTION_TYPE_INVALID', 'Sub-commands can only be nested in a command or a group');
    if (type === OPTION.Subcommand || type === OPTION.SubcommandGroup) {
      if (o.required === true) e.add([...at, 'required'], 'APPLICATION_COMMAND_OPTION_REQUIRED_INVALID', 'Sub-commands cannot be required');
      if (o.options !== undefined) chars += checkOptions(e, [...at, 'options'], o.options, type === OPTION.SubcommandGroup ? 1 : 2);
      if (type === OPTION.SubcommandGroup && Array.isArray(o.options) && (o.options as Body[]).some((s) => Number(s.type) !== OPTION.Subcommand)) {
        e.add([...at, 'options'], 'APPLICATION_COMMAND_OPTION_TYPE_INVALID', 'A sub-command group holds only sub-commands');
      }
      continue;
    }
    if (o.required === true && optionalSeen) e.add([...at, 'required'], 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID', 'Required options must be placed before non-required options');
    if (o.required !== true) optionalSeen = true;
    const numeric = type === OPTION.Integer || type === OPTION.Number;
    for (const k of ['min_value', 'max_value'] as const) {
      if (o[k] === undefined) continue;
      const v = o[k];
      if (!numeric) e.add([...at, k], 'APPLICATION_COMMAND_OPTION_INVALID', `${k} is only allowed on integer and number options`);
      else if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > MAX_SAFE) e.add([...at, k], 'NUMBER_TYPE_COERCE', `Value "${String(v)}" is not a number.`);
      else if (type === OPTION.Integer && !Number.isInteger(v)) e.add([...at, k], 'NUMBER_TYPE_COERCE', `Value "${v}" is not int.`);
    }
    if (typeof o.min_value === 'number' && typeof o.max_value === 'number' && o.min_value > o.max_value) {
      e.add([...at, 'min_value'], 'NUMBER_TYPE_MAX', `int value should be less than or equal to ${o.max_value}.`);
    }
    for (const [k, min] of [['min_length', 0], ['max_length', 1]] as const) {
      if (o[k] === undefined) continue;
      const v = o[k];
      if (type !== OPTION.String) e.add([...at, k], 'APPLICATION_COMMAND_OPTION_INVALID', `${k} is only allowed on string options`);
      else if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 6000) e.add([...at, k], 'NUMBER_TYPE_MAX', `int value should be between ${min} and 6000.`);
    }
    if (typeof o.min_length === 'number' && typeof o.max_length === 'number' && o.min_length > o.max_length) {
      e.add([...at, 'min_length'], 'NUMBER_TYPE_MAX', `int value should be less than or equal to ${o.max_length}.`);
    }
    if (o.choices !== undefined) chars += checkChoices(e, [...at, 'choices'], o.choices, type, o);
    if (o.autocomplete === true) {
      if (type !== OPTION.String && !numeric) e.add([...at, 'autocomplete'], 'APPLICATION_COMMAND_OPTION_INVALID', 'Autocomplete is only allowed on string, integer and number options');
      if (Array.isArray(o.choices) && o.choices.length > 0) e.add([...at, 'autocomplete'], 'APPLICATION_COMMAND_AUTOCOMPLETE_INVALID', 'Autocomplete cannot be set on options with choices');
    }
  }
  return chars;
}

function checkChoices(e: FormErrors, path: Array<string | number>, choices: unknown, type: number, option: Body): number {
  if (![OPTION.String, OPTION.Integer, OPTION.Number].includes(type as 3 | 4 | 10)) {
    e.add(path, 'APPLICATION_COMMAND_OPTION_INVALID', 'Choices are only allowed on string, integer and number options');
    return 0;
  }
  if (!Array.isArray(choices)) {
    e.add(path, 'BASE_TYPE_ARRAY', 'Must be an array.');
    return 0;
  }
  if (choices.length > 25) e.add(path, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
  let chars = 0;
  for (const [k, raw] of (choices as Body[]).entries()) {
    const c = raw ?? {};
    chars += checkLength(e, [...path, k, 'name'], c.name, 1, 100, true);
    const v = c.value;
    if (type === OPTION.String) {
      if (typeof v !== 'string') e.add([...path, k, 'value'], 'BASE_TYPE_STRING', 'Must be a string.');
      else {
        chars += v.length;
        if (!len(v.length, 1, 100)) e.add([...path, k, 'value'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
      }
    } else if (typeof v !== 'number' || !Number.isFinite(v) || (type === OPTION.Integer && !Number.isInteger(v)) || Math.abs(v) > MAX_SAFE) {
      e.add([...path, k, 'value'], 'NUMBER_TYPE_COERCE', `Value "${String(v)}" is not ${type === OPTION.Integer ? 'int' : 'a number'}.`);
    } else if ((typeof option.min_value === 'number' && v < option.min_value) || (typeof option.max_value === 'number' && v > option.max_value)) {
      e.add([...path, k, 'value'], 'NUMBER_TYPE_MAX', 'Choice value is outside the option’s min_value and max_value.');
    }
  }
  return chars;
}

/** Checks a message create/edit body (channel message, webhook, interaction response). */
export function checkMessage(body: Body, fileCount: number): FormErrors {
  const e = new FormErrors();
  if (typeof body.content === 'string' && body.content.length > 2000) e.add(['content'], 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.');
  if (Array.isArray(body.embeds)) {
    const embeds = body.embeds as Body[];
    if (embeds.length > 10) e.add(['embeds'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    let total = 0;
    for (const [i, em] of embeds.entries()) {
      const limit = (path: Array<string | number>, v: unknown, max: number) => {
        if (typeof v !== 'string') return;
        total += v.length;
        if (v.length > max) e.add(['embeds', i, ...path], 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
      };
      limit(['title'], em.title, 256);
      limit(['description'], em.description, 4096);
      limit(['footer', 'text'], (em.footer as Body | undefined)?.text, 2048);
      limit(['author', 'name'], (em.author as Body | undefined)?.name, 256);
      const fields = Array.isArray(em.fields) ? (em.fields as Body[]) : [];
      if (fields.length > 25) e.add(['embeds', i, 'fields'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
      for (const [j, f] of fields.entries()) {
        limit(['fields', j, 'name'], f.name, 256);
        limit(['fields', j, 'value'], f.value, 1024);
      }
    }
    if (total > 6000) e.add(['embeds'], 'MESSAGE_EMBEDS_TOO_LARGE', 'Embed size exceeds maximum size of 6000');
  }
  const attachments = Array.isArray(body.attachments) ? body.attachments.length : 0;
  if (Math.max(fileCount, attachments) > 10) e.add(['attachments'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
  if (Array.isArray(body.components)) {
    const rows = body.components as Body[];
    if (rows.length > 5) e.add(['components'], 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
    const ids = new Set<string>();
    for (const [i, row] of rows.entries()) {
      if (Number(row.type) !== 1) continue;
      const items = Array.isArray(row.components) ? (row.components as Body[]) : [];
      if (items.length < 1 || items.length > 5) e.add(['components', i, 'components'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 5 in length.');
      for (const [j, c] of items.entries()) {
        const at = ['components', i, 'components', j];
        if (typeof c.label === 'string' && c.label.length > 80) e.add([...at, 'label'], 'BASE_TYPE_MAX_LENGTH', 'Must be 80 or fewer in length.');
        if (c.custom_id !== undefined) {
          const id = String(c.custom_id);
          if (!len(id.length, 1, 100)) e.add([...at, 'custom_id'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
          if (ids.has(id)) e.add([...at, 'custom_id'], 'COMPONENT_CUSTOM_ID_DUPLICATED', 'Component custom id cannot be duplicated');
          ids.add(id);
        }
      }
    }
  }
  const users = (body.allowed_mentions as Body | undefined)?.users;
  if (Array.isArray(users) && users.length > 100) e.add(['allowed_mentions', 'users'], 'BASE_TYPE_MAX_LENGTH', 'Must be 100 or fewer in length.');
  return e;
}
