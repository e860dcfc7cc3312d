/** JSON logs (pino) on stdout; FIELDSYNC_LOG_LEVEL sets the level (default info). */
import { pino, type Logger } from 'pino';

export type { Logger };

export const rootLogger: Logger = pino({
  level: process.env.FIELDSYNC_LOG_LEVEL ?? 'info',
  base: { service: 'fieldsync' },
  timestamp: pino.stdTimeFunctions.isoTime,
  // bigint values (positions, stamps) must not break JSON logging
  formatters: { log: (obj) => JSON.parse(JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown> },
});

export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
