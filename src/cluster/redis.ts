/**
 * Redis names and connections shared by the coordinator (./cluster-executor.ts) and the workers
 * (./worker-node.ts). Every key hearth writes starts with `hearth:`; BullMQ's keys use the same prefix.
 */
import { Redis } from 'ioredis';

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

/**
 * A connection for BullMQ and hearth's own commands. `rediss://` turns TLS on and a password in the URL
 * (`redis://:PASSWORD@host`, or `redis://USER:PASSWORD@host` with ACLs) is sent with AUTH, both by ioredis.
 * `maxRetriesPerRequest: null` is what BullMQ workers require: commands wait for a reconnect instead of
 * failing while Redis restarts.
 */
export function connectRedis(url: string, name: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName: name, lazyConnect: false });
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
