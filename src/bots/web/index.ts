import type { AdapterContext } from '../adapter.js';
import { WebConsole, type WebAdapter } from './web-adapter.js';

export type { WebAdapter } from './web-adapter.js';
export { WebConsole } from './web-adapter.js';

/** The local web console and dashboard (`web.host`, `web.port`, `web.token`). */
export function createWebAdapter(ctx: AdapterContext): WebAdapter {
  return new WebConsole(ctx);
}
