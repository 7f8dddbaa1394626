'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { errorText, fieldErrors, useTRPC, type RouterInputs } from '@/components/trpc';
import { Button, Card, ErrorBox, Select, TextInput } from '@/components/ui';
import { useTextFields } from '../text-fields';
import { FormError, useSaved } from '../form';

type Security = RouterInputs['alerts']['setSmtp']['security'];

/** The SMTP server e-mail channels send through; the password is write-only. */
export function SmtpSettings() {
  const trpc = useTRPC();
  const q = useQuery(trpc.alerts.smtp.queryOptions());
  if (q.isPending) return null;
  if (q.error) return <ErrorBox error={errorText(q.error)} />;
  // Keyed by what is stored: the form starts from it again after a save.
  return <SmtpForm key={JSON.stringify(q.data)} stored={q.data} />;
}

function SmtpForm({
  stored,
}: {
  stored: {
    host: string;
    port: number;
    security: Security;
    user: string | null;
    from: string;
    hasPassword: boolean;
  } | null;
}) {
  const trpc = useTRPC();
  const { values: form, field: bind } = useTextFields(
    stored
      ? {
          host: stored.host,
          port: String(stored.port),
          security: stored.security,
          user: stored.user ?? '',
          from: stored.from,
        }
      : { host: '', port: '587', security: 'starttls' as Security, user: '', from: '' },
  );
  const [password, setPassword] = useState('');
  const saved = useSaved('SMTP server saved', trpc.alerts.smtp.queryKey(), () => setPassword(''));
  const save = useMutation(
    trpc.alerts.setSmtp.mutationOptions({ meta: { errorToast: false }, onSuccess: saved }),
  );
  const fe = fieldErrors(save.error);
  return (
    <Card title="SMTP server" className="mb-4">
      <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-300">
        E-mail channels send through this server.{' '}
        {stored?.hasPassword ? 'A password is stored (encrypted); leave the field empty to keep it.' : ''}
      </p>
      <form
        className="grid items-start gap-3 md:grid-cols-3"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate({
            host: form.host,
            port: Number(form.port),
            security: form.security as Security,
            user: form.user || null,
            from: form.from,
            ...(password ? { password } : {}),
          });
        }}
      >
        <TextInput label="Host" {...bind('host')} error={fe.host} placeholder="smtp.example.com" required />
        <TextInput
          label="Port"
          type="number"
          min={1}
          max={65535}
          {...bind('port')}
          error={fe.port}
          required
        />
        <Select label="Security" {...bind('security')}>
          <option value="starttls">STARTTLS required (usually port 587)</option>
          <option value="tls">TLS from the start (usually port 465)</option>
          <option value="none">None (a relay on a trusted network)</option>
        </Select>
        <TextInput
          label="User"
          {...bind('user')}
          error={fe.user}
          autoComplete="off"
          hint="Empty: no authentication"
        />
        <TextInput
          label="SMTP password"
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fe.password}
          autoComplete="new-password"
          placeholder={stored?.hasPassword ? '(stored)' : ''}
        />
        <TextInput
          label="Sender address"
          type="email"
          {...bind('from')}
          error={fe.from}
          placeholder="tandem@example.com"
          required
        />
        <div>
          <Button type="submit" variant="primary" busy={save.isPending}>
            Save SMTP server
          </Button>
        </div>
      </form>
      <FormError error={save.error} fields={fe} />
    </Card>
  );
}

/** When rules fire and how often a firing alert is notified again. */
export function RuleSettings() {
  const trpc = useTRPC();
  const q = useQuery(trpc.alerts.settings.queryOptions());
  if (!q.data) return q.error ? <ErrorBox error={errorText(q.error)} /> : null;
  return <RuleForm key={JSON.stringify(q.data)} stored={q.data} />;
}

/** The rule settings' inputs: what each is called, its bounds, and the setting its errors are on. */
const RULE_FIELDS = [
  { key: 'syncFailures', setting: 'syncFailures', label: 'Consecutive failed syncs', min: 1, max: 100 },
  {
    key: 'nodeUnreachableMin',
    setting: 'nodeUnreachableSec',
    label: 'Node unreachable after (minutes)',
    min: 0.5,
    step: 0.5,
  },
  {
    key: 'repeatHours',
    setting: 'repeatSec',
    label: 'Notify again after (hours, 0: never)',
    min: 0,
    step: 0.5,
  },
] as const;

function RuleForm({
  stored,
}: {
  stored: { syncFailures: number; nodeUnreachableSec: number; repeatSec: number };
}) {
  const trpc = useTRPC();
  const { values: form, field: bind } = useTextFields({
    syncFailures: String(stored.syncFailures),
    nodeUnreachableMin: String(stored.nodeUnreachableSec / 60),
    repeatHours: String(stored.repeatSec / 3600),
  });
  const saved = useSaved('Alert rules saved', trpc.alerts.settings.queryKey());
  const save = useMutation(
    trpc.alerts.setSettings.mutationOptions({ meta: { errorToast: false }, onSuccess: saved }),
  );
  const fe = fieldErrors(save.error);
  return (
    <Card title="Rules" className="mb-4">
      <form
        className="grid items-start gap-3 md:grid-cols-4"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate({
            syncFailures: Number(form.syncFailures),
            nodeUnreachableSec: Math.round(Number(form.nodeUnreachableMin) * 60),
            repeatSec: Math.round(Number(form.repeatHours) * 3600),
          });
        }}
      >
        {RULE_FIELDS.map(({ key, setting, ...input }) => (
          <TextInput key={key} type="number" {...input} {...bind(key)} error={fe[setting]} />
        ))}
        <div className="pt-6">
          <Button type="submit" variant="primary" busy={save.isPending}>
            Save rules
          </Button>
        </div>
      </form>
      <FormError error={save.error} fields={fe} />
    </Card>
  );
}
