/**
 * What kind of file a byte buffer really is (from its magic bytes), and what kind a name or a
 * declared content type claims it is. The two are compared so that a file that lies about its type
 * is refused instead of being handed to a decoder that guesses.
 */

/** The image formats hearth decodes. */
export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

export const SUPPORTED_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'gif', 'webp'];

/** What the bytes are: a supported image format, or a word for what else they look like. */
export type SniffedType = ImageFormat | 'bmp' | 'tiff' | 'heif' | 'avif' | 'svg' | 'pdf' | 'zip' | 'html' | 'text' | 'unknown';

function startsWith(bytes: Uint8Array, sig: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (bytes[offset + i] !== sig[i]) return false;
  return true;
}

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** Reads the magic bytes. Never throws. */
export function sniffImageType(bytes: Uint8Array): SniffedType {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'gif';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(bytes, ascii('BM'))) return 'bmp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(bytes, ascii('ftyp'), 4)) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    return brand.startsWith('avi') ? 'avif' : 'heif';
  }
  if (startsWith(bytes, ascii('%PDF'))) return 'pdf';
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return 'zip';
  const head = bytes.subarray(0, 512);
  if (head.length > 0 && head.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b !== 0x7f))) {
    const text = Buffer.from(head).toString('latin1').trimStart().toLowerCase();
    if (text.includes('<svg')) return 'svg';
    if (text.startsWith('<!doctype html') || text.startsWith('<html')) return 'html';
    return 'text';
  }
  return 'unknown';
}

export function isSupportedFormat(t: string): t is ImageFormat {
  return (SUPPORTED_FORMATS as readonly string[]).includes(t);
}

const MIME_TO_FORMAT: Record<string, ImageFormat> = {
  'image/png': 'png',
  'image/apng': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/pjpeg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

const EXT_TO_FORMAT: Record<string, ImageFormat> = {
  png: 'png',
  apng: 'png',
  jpg: 'jpeg',
  jpeg: 'jpeg',
  jpe: 'jpeg',
  jfif: 'jpeg',
  gif: 'gif',
  webp: 'webp',
};

/** Content types that claim nothing about the bytes. */
const NO_CLAIM = new Set(['application/octet-stream', 'binary/octet-stream', 'application/unknown']);

/**
 * What a content type (`image/png; charset=…`), file name (`cat.PNG`) or extension (`.png`, `png`)
 * claims: a format, `null` when it claims nothing, or `{ other }` for a claim of something that is
 * not a supported image (e.g. `text/html`, `notes.txt`). A bare word that is not a known image
 * extension (a file name without one, say) claims nothing.
 */
export function declaredFormat(declared: string | undefined | null): ImageFormat | null | { other: string } {
  if (declared == null) return null;
  const d = declared.trim().toLowerCase().split(';')[0]?.trim() ?? '';
  if (d === '' || NO_CLAIM.has(d)) return null;
  if (d.includes('/')) return MIME_TO_FORMAT[d] ?? { other: d };
  const dot = d.lastIndexOf('.');
  if (dot < 0) return EXT_TO_FORMAT[d] ?? null;
  const ext = d.slice(dot + 1);
  if (ext === '') return null;
  return EXT_TO_FORMAT[ext] ?? { other: ext };
}
