/** Structured JSON logs (pino). */
import { pino, type Logger } from "pino";

export function createLogger(level = "info"): Logger {
  return pino({ level, base: { service: "adbandit" }, timestamp: pino.stdTimeFunctions.isoTime });
}
