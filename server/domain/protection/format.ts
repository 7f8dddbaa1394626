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

/** Ceph prints times in the admin host's time zone; Tandem's clusters run in UTC. Many images share a time: parsed once each. */
const cephTimes = new Map<string, number | null>();
export function cephTime(s: string | null): number | null {
  if (!s) return null;
  let t = cephTimes.get(s);
  if (t === undefined) {
    const v = Date.parse(`${s.replace(' ', 'T')}Z`);
    t = Number.isFinite(v) ? v : null;
    if (cephTimes.size > 10_000) cephTimes.clear();
    cephTimes.set(s, t);
  }
  return t;
}

/** `rbd snap ls` times (`Mon Nov 23 09:33:41 2026`, the cluster's time zone: UTC), as epoch ms; null when unreadable. */
export function cephCtime(s: string | null): number | null {
  if (!s) return null;
  const m = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/.exec(s.trim());
  const month = m
    ? ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].indexOf(m[1]!)
    : -1;
  if (!m || month < 0) return null;
  return Date.UTC(+m[6]!, month, +m[2]!, +m[3]!, +m[4]!, +m[5]!);
}
