/**
 * Redis names and connections shared by the coordinator (./cluster-executor.ts) and the workers
 * (./worker-node.ts). Every key hearth writes starts with `hearth:`; BullMQ's keys use the same prefix.
 */
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

/** The options this module sets (ioredis's own type marks every key optional-or-undefined). */
type HearthRedisOptions = Omit<RedisOptions, 'replyMapping'>;
import { HearthError, messageOf } from '../engine/types.js';

/** BullMQ's key prefix: queues live at `hearth:<queue>:…`. */
export const BULL_PREFIX = 'hearth';

export const KEYS = {
  /** Set of worker names that have announced themselves (entries whose heartbeat expired are removed). */
  workers: 'hearth:cluster:workers',
  /** A worker's heartbeat (JSON, expires after 3 beats). */
  worker: (name: string) => `hearth:cluster:worker:${name}`,
  /** The current coordinator run; work placed by another run is stale. */
  epoch: 'hearth:cluster:epoch',
  /** Pub/sub channel of one worker instance (cancels, epoch changes). */
  control: (instance: string) => `hearth:cluster:control:${instance}`,
} as const;

/** The BullMQ queue of one worker instance (BullMQ refuses `:` in queue names). */
export function queueName(workerName: string, instance: string): string {
  return `w.${workerName}.${instance}`;
}

/** How to reach Redis: the URL (`cluster.redisUrl`) and, for `rediss://`, the CA that signed its certificate. */
export interface RedisTarget {
  url: string;
  /** A PEM file of the CA(s) to trust (`cluster.tlsCaFile`); default: the system's CAs. */
  tlsCaFile?: string;
}

/** Longest wait between two reconnect attempts. */
const MAX_RECONNECT_DELAY_MS = 2000;

/**
 * The connection options, every one that matters for surviving a Redis restart spelled out:
 * - `maxRetriesPerRequest: null` (BullMQ's workers require it) and `enableOfflineQueue`: commands
 *   issued while Redis is away wait for the reconnect instead of failing, so a heartbeat, a progress
 *   report or a job's outcome is sent late, not lost;
 * - `retryStrategy`: reconnect forever, 100 ms after the first drop and backing off to 2 s;
 * - `enableReadyCheck`: after a restart, commands wait until Redis has loaded its data (AOF/RDB);
 * - `autoResubscribe`: a worker's control channel (cancels, epochs) is subscribed again;
 * - `reconnectOnError` on READONLY: a replica promoted/demoted under us (Sentinel failover).
 * `rediss://` turns TLS on (with `tlsCaFile`'s CA when given); a password in the URL is sent with AUTH.
 */
export function redisOptions(target: RedisTarget, name: string): HearthRedisOptions {
  const options: HearthRedisOptions = {
    connectionName: name,
    lazyConnect: false,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    enableReadyCheck: true,
    autoResubscribe: true,
    connectTimeout: 10_000,
    keepAlive: 30_000,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times - 1, 5), MAX_RECONNECT_DELAY_MS),
    reconnectOnError: (e: Error) => (e.message.startsWith('READONLY') ? 2 : false),
  };
  if (target.url.startsWith('rediss://') && target.tlsCaFile) {
    let ca: Buffer;
    try {
      ca = readFileSync(target.tlsCaFile);
    } catch (e) {
      throw new HearthError('INVALID_INPUT', `cluster.tlsCaFile ${target.tlsCaFile} cannot be read: ${messageOf(e)}`, { given: target.tlsCaFile });
    }
    options.tls = { ca };
  }
  return options;
}

/** A connection for BullMQ and hearth's own commands (see {@link redisOptions}). */
export function connectRedis(target: RedisTarget, name: string): Redis {
  const redis = new Redis(target.url, redisOptions(target, name));
  // Errors are reported by the owner's own listener (added once the first connection is made, see
  // firstConnect); without any listener ioredis would print each retry's error to the console.
  redis.on('error', () => {});
  return redis;
}

/** Redis could not be reached at start (refused, wrong password, TLS refused, no answer). */
export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError';
}

/**
 * Resolves once the connection's first attempt is ready; rejects at its first error (refused, wrong
 * password, TLS) or after `timeoutMs`, with the redacted URL and the reason: Redis unreachable at
 * start is a configuration problem to report, while a drop later is waited out by reconnecting.
 */
export async function firstConnect(redis: Redis, url: string, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string): void => {
      cleanup();
      reject(new RedisUnreachableError(`cannot reach Redis at ${redactRedisUrl(url)}: ${scrubRedisPassword(why, url)}`));
    };
    const onError = (e: Error): void => fail(e.message || e.name);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs / 1000} s`), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      redis.off('error', onError);
      redis.off('ready', onReady);
    };
    redis.once('error', onError);
    redis.once('ready', onReady);
  });
}

/** The URL with its password hidden, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'an unreadable Redis URL';
  }
}

/** A message with the URL's password (as written, as the URL parser normalises it, and decoded) replaced by `***`. */
export function scrubRedisPassword(message: string, url: string): string {
  const forms = new Set<string>();
  const written = /^rediss?:\/\/[^:@/]*:([^@/]*)@/i.exec(url)?.[1];
  if (written) forms.add(written);
  try {
    const parsed = new URL(url).password;
    if (parsed) forms.add(parsed);
  } catch {
    // Not a URL: only the written form is known.
  }
  for (const f of [...forms]) {
    const decoded = safeDecode(f);
    if (decoded) forms.add(decoded);
  }
  let out = message;
  // Longest first, so a form inside another does not leave a part of it behind.
  for (const f of [...forms].sort((a, b) => b.length - a.length)) if (f.length > 0) out = out.split(f).join('***');
  return out;
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** Closes a connection, politely if it can (QUIT), else at once. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await Promise.race([redis.quit(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  } catch {
    // Already closing or never connected.
  }
  redis.disconnect();
}
