import { Logger, LoggerService, LogLevel } from '@nestjs/common';

export interface LogLine {
  level: LogLevel;
  text: string;
}

/**
 * Collects what the application logs through Nest's Logger (every level), instead of
 * printing it, so a test can read the server log. Start it after TestApp.start: creating
 * an application resets Nest's logger.
 */
export class LogCapture implements LoggerService {
  readonly lines: LogLine[] = [];

  private constructor() {}

  static start(): LogCapture {
    const capture = new LogCapture();
    Logger.overrideLogger(capture);
    return capture;
  }

  stop(): void {
    Logger.overrideLogger(false);
  }

  /** Lines logged at `level`. */
  at(level: LogLevel): string[] {
    return this.lines.filter((line) => line.level === level).map((line) => line.text);
  }

  /** Lines that contain `text`, whatever their level. */
  containing(text: string): LogLine[] {
    return this.lines.filter((line) => line.text.includes(text));
  }

  log(...parts: unknown[]): void {
    this.add('log', parts);
  }
  error(...parts: unknown[]): void {
    this.add('error', parts);
  }
  warn(...parts: unknown[]): void {
    this.add('warn', parts);
  }
  debug(...parts: unknown[]): void {
    this.add('debug', parts);
  }
  verbose(...parts: unknown[]): void {
    this.add('verbose', parts);
  }
  fatal(...parts: unknown[]): void {
    this.add('fatal', parts);
  }

  private add(level: LogLevel, parts: unknown[]): void {
    this.lines.push({ level, text: parts.filter((part) => part !== undefined).map(String).join(' ') });
  }
}
