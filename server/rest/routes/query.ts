import { z } from 'zod';

/** A boolean query parameter (`true`/`false`, `1`/`0`, `yes`/`no`) with its default. */
export function bool(dflt: boolean) {
  return z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'true or false' })
    .optional()
    .transform((v) => (v === undefined ? dflt : v === 'true' || v === '1' || v === 'yes'));
}
