/**
 * `p`, or a rejection once `ms` have passed without an answer ("<what>: no answer within N s").
 * The one deadline for calls to machines that may be gone; the timer never outlives the race.
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, what?: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, rej) =>
          (timer = setTimeout(
            () => rej(new Error(`${what ? `${what}: ` : ''}no answer within ${ms / 1000} s`)),
            ms,
          )),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
