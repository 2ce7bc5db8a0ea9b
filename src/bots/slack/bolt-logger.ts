import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import { scrubSecrets, type Logger } from '../../util/log.js';

const RANK: Record<LogLevel, number> = { [LogLevel.DEBUG]: 0, [LogLevel.INFO]: 1, [LogLevel.WARN]: 2, [LogLevel.ERROR]: 3 };

function text(parts: unknown[]): string {
  return scrubSecrets(
    parts
      .map((p) => {
        if (typeof p === 'string') return p;
        if (p instanceof Error) return p.message;
        try {
          return JSON.stringify(p);
        } catch {
          return String(p);
        }
      })
      .join(' '),
  );
}

/**
 * Bolt's and the Socket Mode client's log lines, into hearth's log: tagged, with anything that looks
 * like a token removed (their debug output includes request bodies).
 */
export function boltLogger(log: Logger, level: LogLevel = LogLevel.WARN): BoltLogger {
  let current = level;
  const child = log.child({ component: 'slack' });
  const on = (l: LogLevel): boolean => RANK[l] >= RANK[current];
  return {
    debug: (...m: unknown[]) => void (on(LogLevel.DEBUG) && child.debug(text(m))),
    info: (...m: unknown[]) => void (on(LogLevel.INFO) && child.info(text(m))),
    warn: (...m: unknown[]) => void (on(LogLevel.WARN) && child.warn(text(m))),
    error: (...m: unknown[]) => void (on(LogLevel.ERROR) && child.error(text(m))),
    setLevel: (l: LogLevel) => {
      current = l;
    },
    getLevel: () => current,
    setName: () => {},
  };
}
