/**
 * vitest globalSetup: provides the browser the browser tests drive (`inject('chromiumPath')`),
 * installing Debian's chromium where it is missing and possible (see ./find-chromium.ts). A run of
 * other test files only (`vitest run test/unit/…`) neither looks for one nor installs one.
 */
import type { TestProject } from 'vitest/node';
import { provisionBrowser } from './find-chromium.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium or Chrome executable for test/browser. */
    chromiumPath: string;
  }
}

/** The file filters given on the command line (`vitest run a b` → [a, b]); empty: every test file. */
function cliFilters(argv: readonly string[]): string[] {
  const i = argv.findIndex((a) => a === 'run' || a === 'watch' || a === 'dev');
  return argv.slice(i < 0 ? 2 : i + 1).filter((a) => !a.startsWith('-'));
}

export default function setup(project: TestProject): void {
  const filters = cliFilters(process.argv);
  const browserRun = filters.length === 0 || filters.some((f) => 'test/browser/web-console.test.ts'.includes(f) || f.includes('test/browser'));
  if (!browserRun) return;
  project.provide('chromiumPath', provisionBrowser());
}
