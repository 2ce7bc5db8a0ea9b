import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Monitoring } from '../../monitoring/index.js';
import { SECURITY_HEADERS, sendText } from './http.js';

/**
 * `GET /metrics`: the Prometheus text exposition. It passes the console's gate like every request
 * (off loopback, `Authorization: Bearer <web.token>`, which Prometheus sends with `authorization:`).
 */
export async function sendMetrics(req: IncomingMessage, res: ServerResponse, metrics: Monitoring['metrics']): Promise<void> {
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'Only GET /metrics.', { Allow: 'GET, HEAD' });
  const body = await metrics.text();
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': metrics.contentType,
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
