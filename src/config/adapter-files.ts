/**
 * Start-time check of `models.chat.adapters`: each file exists, is a GGUF file, and says it is an
 * adapter (`general.type = "adapter"`), so a wrong path or a model given as an adapter stops hearth
 * at start, naming the key, instead of failing the first /ask that uses it. Reads only the header's
 * key/values (no model library: the config may not import one).
 */
import { open } from 'node:fs/promises';
import { configIssue, type ConfigIssue } from './errors.js';

/** Bytes of the header read: an adapter's metadata is a few hundred bytes; a model's general.* keys come first. */
const HEADER_BYTES = 1 << 20;

const FIX = 'Convert the LoRA with llama.cpp\'s convert_lora_to_gguf.py (--base of this chat model), or fix the path.';

/** Issues (none when all are fine) for the adapters of a chat config whose paths are already absolute. */
export async function checkAdapterFiles(adapters: Readonly<Record<string, { path: string }>>): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  for (const [name, { path }] of Object.entries(adapters)) {
    const key = `models.chat.adapters.${name}.path`;
    const problem = await adapterProblem(path);
    if (problem === undefined) continue;
    issues.push(configIssue({ key, expected: 'a GGUF LoRA adapter file (general.type "adapter")', given: JSON.stringify(path), message: `${key}: ${problem} (${path}). ${FIX}` }));
  }
  return issues;
}

async function adapterProblem(path: string): Promise<string | undefined> {
  let header: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await fh.read(buf, 0, HEADER_BYTES, 0);
      header = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'the file does not exist' : `the file cannot be read (${code ?? String(error)})`;
  }
  if (header.subarray(0, 4).toString('latin1') !== 'GGUF') return 'the file is not a GGUF file (it does not start with "GGUF")';
  const type = readStringKey(header, 'general.type');
  if (type === undefined) return 'the file has no general.type key: it is not a LoRA adapter GGUF';
  if (type !== 'adapter') return `the file's general.type is ${JSON.stringify(type)}, not "adapter": it is not a LoRA adapter`;
  return undefined;
}

/** Byte sizes of GGUF's fixed-size value types (gguf_type). */
const FIXED: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/** A string value of the header's key/values; undefined when absent, not a string, or past the bytes read. */
function readStringKey(buf: Buffer, wanted: string): string | undefined {
  let at = 4;
  const need = (n: number): boolean => at + n <= buf.length;
  if (!need(20)) return undefined;
  const version = buf.readUInt32LE(at);
  at += 4;
  if (version < 2) return undefined;
  at += 8; // tensor count
  const kvCount = Number(buf.readBigUInt64LE(at));
  at += 8;
  const readString = (): string | undefined => {
    if (!need(8)) return undefined;
    const length = Number(buf.readBigUInt64LE(at));
    at += 8;
    if (!need(length)) return undefined;
    const s = buf.toString('utf8', at, at + length);
    at += length;
    return s;
  };
  const skip = (type: number): boolean => {
    if (type === STRING) return readString() !== undefined;
    const size = FIXED[type];
    if (size !== undefined) {
      at += size;
      return need(0);
    }
    if (type !== ARRAY || !need(12)) return false;
    const itemType = buf.readUInt32LE(at);
    const count = Number(buf.readBigUInt64LE(at + 4));
    at += 12;
    const itemSize = FIXED[itemType];
    if (itemSize !== undefined) {
      at += itemSize * count;
      return need(0);
    }
    for (let i = 0; i < count; i++) if (!skip(itemType)) return false;
    return true;
  };
  for (let i = 0; i < kvCount; i++) {
    const key = readString();
    if (key === undefined || !need(4)) return undefined;
    const type = buf.readUInt32LE(at);
    at += 4;
    if (key === wanted) return type === STRING ? readString() : undefined;
    if (!skip(type)) return undefined;
  }
  return undefined;
}
