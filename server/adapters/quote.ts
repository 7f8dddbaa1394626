/**
 * POSIX shell quoting for the few places where a remote shell is unavoidable (an SSH exec
 * request is a single string). Every argument is wrapped in single quotes; embedded single
 * quotes become '\''. NUL bytes cannot be passed through a shell at all and are refused.
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('argument contains a NUL byte');
  if (arg !== '' && /^[A-Za-z0-9_\-./=:@,+%]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** A pipeline of argument arrays, each quoted, joined with `|`. */
export function shellPipeline(commands: readonly (readonly string[])[]): string {
  return commands.map(shellJoin).join(' | ');
}
