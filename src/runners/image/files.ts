import { stat } from 'node:fs/promises';

/** True when `path` is an existing file (not a folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
