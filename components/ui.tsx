'use client';

import {
  useEffect,
  useId,
  useRef,
  useState,
  type ButtonHTMLAttributes,
  type ComponentProps,
  type ReactNode,
} from 'react';

export function cx(...c: (string | false | null | undefined)[]): string {
  return c.filter(Boolean).join(' ');
}

type Variant = 'primary' | 'secondary' | 'danger' | 'ghost';
const VARIANTS: Record<Variant, string> = {
  primary: 'bg-brand-600 text-white hover:bg-brand-700 disabled:bg-brand-600/50',
  secondary:
    'border border-zinc-300 bg-white text-zinc-800 hover:bg-zinc-50 dark:border-zinc-600 dark:bg-zinc-800 dark:text-zinc-100 dark:hover:bg-zinc-700',
  danger: 'bg-red-600 text-white hover:bg-red-700 disabled:bg-red-600/50',
  ghost: 'text-zinc-700 hover:bg-zinc-100 dark:text-zinc-200 dark:hover:bg-zinc-800',
};

export function Button({
  variant = 'secondary',
  busy,
  className,
  children,
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; busy?: boolean }) {
  return (
    <button
      type="button"
      {...rest}
      disabled={rest.disabled || busy}
      aria-busy={busy || undefined}
      className={cx(
        'inline-flex items-center gap-1.5 rounded-md px-3 py-1.5 text-sm font-medium transition disabled:cursor-not-allowed disabled:opacity-60',
        VARIANTS[variant],
        className,
      )}
    >
      {busy && (
        <span
          className="size-3 animate-spin rounded-full border-2 border-current border-t-transparent"
          aria-hidden
        />
      )}
      {children}
    </button>
  );
}

export function Card({
  title,
  actions,
  children,
  className,
}: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section
      className={cx(
        'rounded-lg border border-zinc-200 bg-white p-4 shadow-sm dark:border-zinc-700 dark:bg-zinc-900',
        className,
      )}
    >
      {(title || actions) && (
        <div className="mb-3 flex items-center justify-between gap-2">
          {title && <h2 className="text-base font-semibold">{title}</h2>}
          {actions && <div className="flex gap-2">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-5 flex flex-wrap items-center justify-between gap-3">
      <h1 className="text-2xl font-semibold tracking-tight">{children}</h1>
      {actions && <div className="flex gap-2">{actions}</div>}
    </div>
  );
}

const TONES = {
  ok: 'bg-emerald-100 text-emerald-800 dark:bg-emerald-900/50 dark:text-emerald-200',
  warn: 'bg-amber-100 text-amber-800 dark:bg-amber-900/50 dark:text-amber-200',
  error: 'bg-red-100 text-red-800 dark:bg-red-900/50 dark:text-red-200',
  info: 'bg-sky-100 text-sky-800 dark:bg-sky-900/50 dark:text-sky-200',
  muted: 'bg-zinc-100 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300',
  demo: 'bg-fuchsia-100 text-fuchsia-800 dark:bg-fuchsia-900/50 dark:text-fuchsia-200',
} as const;
export type Tone = keyof typeof TONES;

export function Badge({
  tone = 'muted',
  children,
  title,
}: {
  tone?: Tone;
  children: ReactNode;
  title?: string;
}) {
  return (
    <span
      title={title}
      className={cx('inline-flex items-center rounded px-1.5 py-0.5 text-xs font-medium', TONES[tone])}
    >
      {children}
    </span>
  );
}

export function DemoBadge() {
  return (
    <Badge tone="demo" title="Simulated site of the built-in demo environment">
      Demo
    </Badge>
  );
}

export function Progress({ value, max, label }: { value: number; max: number; label?: string }) {
  const pct = max > 0 ? Math.min(100, Math.round((value / max) * 100)) : 0;
  return (
    <div className="flex items-center gap-2">
      <div
        role="progressbar"
        aria-label={label ?? 'progress'}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        className="h-2 flex-1 overflow-hidden rounded bg-zinc-200 dark:bg-zinc-700"
      >
        <div className="h-full bg-brand-500 transition-all" style={{ width: `${pct}%` }} />
      </div>
      <span className="w-10 text-right text-xs tabular-nums text-zinc-500">{pct}%</span>
    </div>
  );
}

/** A finding about a field (or about what no field shows), read out when it appears; nothing without one. */
export function FieldError({ error, id, className }: { error?: string; id?: string; className?: string }) {
  if (!error) return null;
  return (
    <p id={id} role="alert" className={cx('text-xs text-red-600 dark:text-red-400', className)}>
      {error}
    </p>
  );
}

export function Field({
  label,
  error,
  hint,
  children,
  htmlFor,
}: {
  label: string;
  error?: string;
  hint?: ReactNode;
  children: ReactNode;
  htmlFor: string;
}) {
  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={htmlFor} className="text-sm font-medium">
        {label}
      </label>
      {children}
      {hint && !error && <p className="text-xs text-zinc-500">{hint}</p>}
      <FieldError id={`${htmlFor}-error`} error={error} />
    </div>
  );
}

const inputCls =
  'rounded-md border border-zinc-300 bg-white px-2.5 py-1.5 text-sm dark:border-zinc-600 dark:bg-zinc-800 aria-[invalid=true]:border-red-500';

export function TextInput({
  label,
  error,
  hint,
  id,
  className,
  ...rest
}: ComponentProps<'input'> & { label: string; error?: string; hint?: ReactNode }) {
  const auto = useId();
  const fid = id ?? auto;
  return (
    <Field label={label} error={error} hint={hint} htmlFor={fid}>
      <input
        id={fid}
        aria-invalid={!!error}
        aria-describedby={error ? `${fid}-error` : undefined}
        className={cx(inputCls, className)}
        {...rest}
      />
    </Field>
  );
}

/**
 * A checkbox with its label. `tone` marks a risky choice: `danger` (red: a split-brain, data
 * destroyed), `warning` (amber: a risk accepted). `compact`: small, one of a row of choices.
 */
export function Checkbox({
  children,
  tone,
  className,
  align = 'center',
  compact,
  ...rest
}: Omit<ComponentProps<'input'>, 'type'> & {
  children: ReactNode;
  tone?: 'danger' | 'warning';
  align?: 'center' | 'start';
  compact?: boolean;
}) {
  return (
    <label
      className={cx(
        compact ? 'mr-3 inline-flex gap-1 text-xs' : 'flex gap-2 text-sm',
        align === 'start' ? 'items-start' : 'items-center',
        tone === 'danger' && 'font-medium text-red-700 dark:text-red-400',
        tone === 'warning' && 'text-amber-800 dark:text-amber-300',
        className,
      )}
    >
      <input type="checkbox" {...rest} />
      <span>{children}</span>
    </label>
  );
}

export function TextArea({
  label,
  error,
  hint,
  id,
  ...rest
}: ComponentProps<'textarea'> & { label: string; error?: string; hint?: ReactNode }) {
  const auto = useId();
  const fid = id ?? auto;
  return (
    <Field label={label} error={error} hint={hint} htmlFor={fid}>
      <textarea
        id={fid}
        aria-invalid={!!error}
        aria-describedby={error ? `${fid}-error` : undefined}
        className={cx(inputCls, 'font-mono text-xs')}
        rows={4}
        {...rest}
      />
    </Field>
  );
}

export function Select({
  label,
  error,
  hint,
  id,
  children,
  ...rest
}: ComponentProps<'select'> & { label: string; error?: string; hint?: ReactNode }) {
  const auto = useId();
  const fid = id ?? auto;
  return (
    <Field label={label} error={error} hint={hint} htmlFor={fid}>
      <select id={fid} aria-invalid={!!error} className={inputCls} {...rest}>
        {children}
      </select>
    </Field>
  );
}

/** The frame of every modal dialog. */
export const dialogCls =
  'm-auto w-full max-w-lg rounded-lg border border-zinc-200 bg-white p-5 text-zinc-900 shadow-xl backdrop:bg-black/40 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100';

/**
 * A `<dialog>` shown modal while `open` is true, closed when it turns false or the component goes;
 * `onOpen` runs each time it opens (to clear what was typed last time). Give the ref to the dialog.
 */
export function useModalDialog(open: boolean, onOpen?: () => void) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      onOpen?.();
      d.showModal();
    } else if (!open && d.open) d.close();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- onOpen belongs to the opening, not to its identity
  }, [open]);
  useEffect(() => {
    const d = ref.current;
    return () => d?.close();
  }, []);
  return ref;
}

/** A modal confirmation that states what will happen; optionally requires typing a word. */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  typeToConfirm,
  danger,
  busy,
  disabled,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  typeToConfirm?: string;
  danger?: boolean;
  busy?: boolean;
  /** Keeps the confirm button off (e.g. while the plan shown says it cannot run). */
  disabled?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const titleId = useId();
  const [typed, setTyped] = useState('');
  const ref = useModalDialog(open, () => setTyped(''));
  const ok = !typeToConfirm || typed === typeToConfirm;
  return (
    <dialog
      ref={ref}
      onCancel={(e) => (e.preventDefault(), onCancel())}
      className={dialogCls}
      aria-labelledby={titleId}
    >
      <h2 id={titleId} className="mb-3 text-lg font-semibold">
        {title}
      </h2>
      <div className="mb-4 space-y-2 text-sm">{children}</div>
      {/* Only while open: a closed dialog's field would share its label with the page's own. */}
      {typeToConfirm && open && (
        <div className="mb-4">
          <TextInput
            label={`Type ${typeToConfirm} to confirm`}
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
            autoComplete="off"
          />
        </div>
      )}
      <div className="flex justify-end gap-2">
        <Button onClick={onCancel}>Cancel</Button>
        <Button
          variant={danger ? 'danger' : 'primary'}
          disabled={!ok || disabled}
          busy={busy}
          onClick={onConfirm}
        >
          {confirmLabel}
        </Button>
      </div>
    </dialog>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="py-6 text-center text-sm text-zinc-500">{children}</p>;
}

export function ErrorBox({ error }: { error: string }) {
  return (
    <p
      role="alert"
      className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200"
    >
      {error}
    </p>
  );
}

export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function formatTime(d: Date | number | null | undefined): string {
  if (d === null || d === undefined) return '—';
  return new Date(d).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/**
 * A secret shown once (a bootstrap token, an API token): marked as such, with what to do now. The
 * caller renders the secret and its buttons inside.
 */
export function SecretOnce({
  label,
  note,
  className,
  children,
}: {
  label: string;
  note: ReactNode;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div
      className={cx(
        'space-y-2 rounded-md border border-amber-300 bg-amber-50 p-3 dark:border-amber-700 dark:bg-amber-950',
        className,
      )}
      role="region"
      aria-label={label}
    >
      <p className="text-sm font-medium text-amber-800 dark:text-amber-200">{note}</p>
      {children}
    </div>
  );
}

/** Copies a secret to the clipboard and says whether the browser let it. */
export function copySecret(
  text: string,
  toast: { success(m: string): unknown; error(m: string): unknown },
  byHand: string,
): Promise<boolean> {
  return navigator.clipboard.writeText(text).then(
    () => (toast.success('Token copied to the clipboard'), true),
    () => (toast.error(`The browser refused clipboard access; ${byHand}`), false),
  );
}
