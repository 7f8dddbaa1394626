'use client';

import { TRPCClientError, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import { createContext, useContext, useSyncExternalStore, type ReactNode } from 'react';
import type { AppRouter } from './trpc';

/** Local time of day, HH:MM:SS. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/**
 * The request never got an answer from the Tandem server (refused, reset, offline, a proxy's
 * HTML error page): an error without the tRPC error shape the server sends; or the server said it
 * is stopping. An aborted request (the page moved on) says nothing.
 */
export function lostContact(err: unknown): boolean {
  if (!(err instanceof TRPCClientError)) return false;
  // A server that is stopping answers, but only to say it is going away.
  if ((err.data as { appCode?: string } | undefined)?.appCode === 'UNAVAILABLE') return true;
  if (err.data || err.shape) return false;
  const cause = err.cause as { name?: string } | undefined;
  return cause?.name !== 'AbortError';
}

export interface ConnectionState {
  /** When contact with the server was lost (epoch ms), or null while it answers. */
  lostSince: number | null;
  reason: string | null;
}

const CONNECTED: ConnectionState = { lostSince: null, reason: null };

/**
 * Whether the browser still has contact with the Tandem server. A request that gets no answer, or
 * a live stream that drops, makes it ask the server at once; contact counts as lost when that
 * question gets no answer either. A page that only listens to a live stream makes no requests,
 * and a server that is shutting down may keep an open stream while refusing everything else: so
 * when nothing has answered for `heartbeatMs`, it asks too. While lost, it asks again every
 * `retryMs`; the first answer restores contact and `onRestored` refetches what the page shows.
 */
export class ConnectionMonitor {
  #state: ConnectionState = CONNECTED;
  #listeners = new Set<() => void>();
  #suspectSince: number | null = null;
  #probing = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #lastAnswerAt = Date.now();
  #bootId: string | null = null;
  readonly #streams = new Set<() => void>();

  readonly #retryMs: number;
  readonly #heartbeatMs: number;
  readonly #probeTimeoutMs: number;

  constructor(
    /** A cheap question to the server, not batched with others (which may wait on slow sites). */
    private readonly probe: (signal: AbortSignal) => Promise<unknown>,
    private readonly onRestored: () => void,
    opts: { retryMs?: number; heartbeatMs?: number; probeTimeoutMs?: number } = {},
  ) {
    this.#retryMs = opts.retryMs ?? 2_000;
    this.#heartbeatMs = opts.heartbeatMs ?? 5_000;
    this.#probeTimeoutMs = opts.probeTimeoutMs ?? 8_000;
  }

  /** Starts the heartbeat (while the page is visible); returns its stop. */
  start(): () => void {
    const t = setInterval(() => {
      if (this.#state.lostSince !== null || document.visibilityState === 'hidden') return;
      if (Date.now() - this.#lastAnswerAt >= this.#heartbeatMs) this.suspect();
    }, this.#heartbeatMs / 2);
    return () => clearInterval(t);
  }

  subscribe = (fn: () => void): (() => void) => {
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  };

  getSnapshot = (): ConnectionState => this.#state;

  #set(s: ConnectionState) {
    this.#state = s;
    for (const fn of this.#listeners) fn();
  }

  /**
   * Registers a live stream to open again when contact comes back: a stream may still hang on a
   * server process that was stopped (it drains open streams), or have missed events meanwhile.
   */
  onReconnect(reopen: () => void): () => void {
    this.#streams.add(reopen);
    return () => void this.#streams.delete(reopen);
  }

  #reconnect() {
    for (const reopen of [...this.#streams]) reopen();
    this.onRestored();
  }

  /** The server answered something (data, or an error of its own); `bootId` names its process. */
  answered(bootId?: string | null): void {
    this.#lastAnswerAt = Date.now();
    this.#suspectSince = null;
    const restarted = !!bootId && !!this.#bootId && bootId !== this.#bootId;
    if (bootId) this.#bootId = bootId;
    if (this.#state.lostSince === null) {
      // A restart too quick to be noticed as a loss: live streams may still hang on the old process.
      if (restarted) this.#reconnect();
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#set(CONNECTED);
    this.#reconnect();
  }

  /** A request got no answer, or a live stream is reconnecting: ask the server whether it is there. */
  suspect(): void {
    if (this.#state.lostSince !== null) return;
    this.#suspectSince ??= Date.now();
    void this.#ask();
  }

  /** Ask now rather than at the next retry (the browser is back online). */
  retryNow(): void {
    if (this.#state.lostSince === null) return this.suspect();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    void this.#ask();
  }

  /** Contact is lost for a reason known without asking (the browser is offline). */
  lost(reason: string): void {
    if (this.#state.lostSince === null) this.#set({ lostSince: this.#suspectSince ?? Date.now(), reason });
    this.#schedule();
  }

  #schedule() {
    if (this.#timer || this.#state.lostSince === null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#ask();
    }, this.#retryMs);
  }

  async #ask() {
    if (this.#probing) return;
    this.#probing = true;
    // A server that accepts the connection and never answers (frozen, or a half-open connection) is lost too.
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.#probeTimeoutMs);
    try {
      await this.probe(ac.signal);
      this.answered();
    } catch (err) {
      if (ac.signal.aborted) this.lost(`no answer within ${this.#probeTimeoutMs / 1000} s`);
      else if (lostContact(err)) this.lost(err instanceof Error ? err.message : String(err));
      else this.answered();
    } finally {
      clearTimeout(timer);
      this.#probing = false;
      this.#schedule();
    }
  }
}

/** The server process that sent a response (see app/api/trpc/[trpc]/route.ts). */
function bootIdOf(context: unknown): string | null {
  const res = (context as { response?: { headers?: Headers } } | undefined)?.response;
  return res?.headers?.get?.('x-tandem-boot') ?? null;
}

/**
 * Watches every operation: answers to requests keep contact; requests without an answer and
 * dropped live streams make the monitor ask. A live stream is opened again when contact comes
 * back. Goes after the retry link, so that it sees each attempt.
 */
export function connectionLink(monitor: ConnectionMonitor): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let sub: { unsubscribe(): void } | null = null;
        // A stream being replaced may still emit as it closes ("stopped", complete): only the current one speaks.
        let generation = 0;
        const open = () => {
          const mine = ++generation;
          sub = next(op).subscribe({
            next(envelope) {
              if (mine !== generation) return;
              // Only answers to requests count as contact: a stopping server may still feed the streams it has open.
              const r = envelope.result as { type?: string; state?: string; error?: unknown };
              if (op.type !== 'subscription') monitor.answered(bootIdOf(envelope.context));
              else if (r.type === 'state' && r.state === 'connecting' && r.error) monitor.suspect();
              observer.next(envelope);
            },
            error(err) {
              if (mine !== generation) return;
              if (!op.signal?.aborted) {
                if (lostContact(err)) monitor.suspect();
                else monitor.answered(bootIdOf(err.meta));
              }
              observer.error(err);
            },
            complete() {
              if (mine !== generation) return;
              observer.complete();
            },
          });
        };
        open();
        const off =
          op.type === 'subscription'
            ? monitor.onReconnect(() => {
                generation++;
                sub?.unsubscribe();
                open();
              })
            : undefined;
        return () => {
          off?.();
          generation++;
          sub?.unsubscribe();
        };
      });
}

const Ctx = createContext<ConnectionMonitor | null>(null);

export function ConnectionProvider({
  monitor,
  children,
}: {
  monitor: ConnectionMonitor;
  children: ReactNode;
}) {
  return <Ctx.Provider value={monitor}>{children}</Ctx.Provider>;
}

const noop = () => () => {};
const connected = () => CONNECTED;

/** The connection state; always connected while rendering on the server. */
export function useConnection(): ConnectionState {
  const m = useContext(Ctx);
  return useSyncExternalStore(m?.subscribe ?? noop, m?.getSnapshot ?? connected, connected);
}

/** The banner every console page shows while the server does not answer. */
export function ConnectionBanner() {
  const c = useConnection();
  if (c.lostSince === null) return null;
  return (
    <div
      role="alert"
      data-testid="connection-banner"
      title={c.reason ?? undefined}
      className="sticky top-0 z-40 mb-4 rounded-md border border-red-400 bg-red-600 px-4 py-2 text-sm font-medium text-white shadow dark:border-red-700 dark:bg-red-800"
    >
      Lost contact with the Tandem server since {clockTime(c.lostSince)} — states shown may be stale;
      retrying…
    </div>
  );
}
