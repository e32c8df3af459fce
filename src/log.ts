// One line per event on stderr: `<time> <level> <message>`. Never a stack trace for bad input.
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const emit = (level: string) => (message: string) => write(`${new Date().toISOString()} ${level.padEnd(5)} ${message}\n`);
  return { info: emit('info'), warn: emit('warn'), error: emit('error') };
}
