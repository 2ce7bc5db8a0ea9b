/**
 * A real redis-server for a test file: Debian's package, on a free port of 127.0.0.1, with no
 * persistence, in a temporary folder; stopped (and the folder removed) by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** A port nobody listens on now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A TLS listener's files (PEM): the server's certificate and key, and the CA that signed it. */
export interface RedisTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface RedisServerOptions {
  /** Turns on requirepass. */
  password?: string;
  /** Persistence as a production Redis has it: an append-only file in its folder, fsync'd every second (or `always`). */
  appendonly?: boolean | 'always';
  /** Listens with TLS only (rediss://). */
  tls?: RedisTls;
}

/**
 * Starts redis-server and resolves once it accepts connections (and has loaded its data).
 * `restart()` stops it as a service restart does (SIGTERM: it writes its data and exits; or the signal
 * given, e.g. SIGKILL) and starts it again on the same port with the same folder and options.
 */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer & { restart(downMs?: number, signal?: NodeJS.Signals): Promise<void>; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-redis-'));
  const port = await freePort();
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', opts.appendonly ? 'yes' : 'no', '--dir', dir];
  if (opts.appendonly === 'always') args.push('--appendfsync', 'always');
  if (opts.tls) {
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.certFile, '--tls-key-file', opts.tls.keyFile, '--tls-ca-cert-file', opts.tls.caFile, '--tls-auth-clients', 'no');
  } else args.push('--port', String(port));
  if (opts.password) args.push('--requirepass', opts.password);
  let child = await launch(args);
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  const stopChild = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      await exited;
    }
  };
  return {
    url: `${opts.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    port,
    dir,
    async restart(downMs = 0, signal: NodeJS.Signals = 'SIGTERM') {
      await stopChild(signal);
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      child = await launch(args);
    },
    async stop() {
      await stopChild('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function launch(args: string[]): Promise<ChildProcess> {
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}: ${output.slice(-500)}`)));
  });
  child.stdout?.removeAllListeners('data');
  child.stderr?.removeAllListeners('data');
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}
