/**
 * JSON parsing that keeps large integers exact.
 *
 * Ceph prints 64-bit values (snapshot ids such as `primary_snap_id` = 18446744073709551614) as
 * bare JSON numbers; `JSON.parse` would round them to the nearest double. Before parsing, every
 * integer literal of 16 or more digits outside a string is wrapped in quotes, so it arrives as
 * an exact decimal string. Shorter integers (at most 15 digits) are always exact as doubles.
 */

// A JSON string (skipped as a whole, so digits inside strings are never touched), or a long
// integer literal that is a complete value: not part of a fraction/exponent, and followed by
// a delimiter.
const LONG_INT = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])(-?\d{16,})(?=\s*[,}\]]|\s*$)/g;

export function quoteLongIntegers(text: string): string {
  return text.replace(LONG_INT, (match, digits: string | undefined) =>
    digits === undefined ? match : `"${digits}"`,
  );
}

/** `JSON.parse` with long integers turned into strings; empty output parses as `null`. */
export function parseJsonExact(text: string): unknown {
  const t = text.trim();
  if (t === '') return null;
  return JSON.parse(quoteLongIntegers(t));
}
