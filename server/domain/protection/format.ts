/** A duration in seconds as an operator reads it: `45 s`, `12 min`, `1 h 30 min`, `2 d 3 h`. */
export function formatSeconds(sec: number): string {
  const s = Math.round(sec);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}
