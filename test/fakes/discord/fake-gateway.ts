import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

interface Session {
  ws: WebSocket;
  identified: boolean;
  intents: number;
  seq: number;
}

export interface GatewayOptions {
  token: string;
  /** The READY payload for a session (user, application, session id). */
  ready: () => Record<string, unknown>;
}

/**
 * Discord's gateway, as much as discord.js needs: HELLO, IDENTIFY (token checked) → READY with no
 * guilds (so the client does not wait for GUILD_CREATEs), heartbeats acknowledged, dispatches in order.
 * JSON encoding, no compression (zlib-sync is not installed).
 */
export class FakeGateway {
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #sessions = new Set<Session>();
  readonly #opts: GatewayOptions;
  /** Number of IDENTIFYs seen (one per login). */
  identifies = 0;

  constructor(server: Server, opts: GatewayOptions) {
    this.#opts = opts;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws));
    });
  }

  /** Connected, identified sessions. */
  get sessions(): number {
    return [...this.#sessions].filter((s) => s.identified).length;
  }

  /** Sends a dispatch to every identified session whose intents include `intent` (0: all). */
  dispatch(t: string, d: unknown, intent = 0): void {
    for (const s of this.#sessions) {
      if (!s.identified || (intent !== 0 && (s.intents & intent) === 0)) continue;
      s.ws.send(JSON.stringify({ op: 0, t, s: ++s.seq, d }));
    }
  }

  /** The intents of the identified session (the adapter's one connection). */
  intents(): number {
    for (const s of this.#sessions) if (s.identified) return s.intents;
    return 0;
  }

  async close(): Promise<void> {
    for (const s of this.#sessions) s.ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #accept(ws: WebSocket): void {
    const session: Session = { ws, identified: false, intents: 0, seq: 0 };
    this.#sessions.add(session);
    ws.on('close', () => this.#sessions.delete(session));
    ws.on('message', (raw) => this.#onMessage(session, raw.toString()));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 } }));
  }

  #onMessage(s: Session, raw: string): void {
    const msg = JSON.parse(raw) as { op: number; d: unknown };
    switch (msg.op) {
      case 1:
        s.ws.send(JSON.stringify({ op: 11 }));
        return;
      case 2: {
        const d = msg.d as { token?: string; intents?: number };
        const token = (d.token ?? '').replace(/^Bot /, '');
        if (token !== this.#opts.token) {
          s.ws.close(4004, 'Authentication failed.');
          return;
        }
        this.identifies++;
        s.identified = true;
        s.intents = d.intents ?? 0;
        s.ws.send(JSON.stringify({ op: 0, t: 'READY', s: ++s.seq, d: this.#opts.ready() }));
        return;
      }
      case 6:
        // No resuming here: the client identifies again.
        s.ws.send(JSON.stringify({ op: 9, d: false }));
        return;
      default:
        return;
    }
  }
}
