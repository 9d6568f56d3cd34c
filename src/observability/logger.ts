import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

/**
 * The process logger: pino JSON lines. Callers log identifiers and outcomes only; objects,
 * patches and Secret or ConfigMap data are never passed to it.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      name: "ca-trust-webhook",
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that drops everything (tests and offline commands). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
