'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useToast } from '@/components/toast';
import { errorText, fieldErrors, useTRPC, invalidateAfterChange } from '@/components/trpc';
import {
  Badge,
  Button,
  Card,
  ConfirmDialog,
  ErrorBox,
  PageTitle,
  Select,
  TextInput,
  formatTime,
} from '@/components/ui';

type Role = 'viewer' | 'operator' | 'admin';

export default function UsersPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const users = useQuery(trpc.users.list.queryOptions());
  const [form, setForm] = useState({ username: '', password: '', role: 'operator' as Role });
  const [deleting, setDeleting] = useState<{ id: number; username: string } | null>(null);
  const refresh = () => void invalidateAfterChange(qc, { queryKey: trpc.users.pathKey() });
  const create = useMutation(
    trpc.users.create.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (u) => {
        toast.success(`Created ${u.username}`);
        setForm({ username: '', password: '', role: 'operator' });
        refresh();
      },
    }),
  );
  const update = useMutation(
    trpc.users.update.mutationOptions({ onSuccess: () => (toast.success('Saved'), refresh()) }),
  );
  const setPw = useMutation(
    trpc.users.setPassword.mutationOptions({
      onSuccess: () => toast.success('Password changed; that user’s sessions were ended'),
    }),
  );
  const remove = useMutation(
    trpc.users.remove.mutationOptions({
      onSuccess: () => (toast.success('User deleted'), setDeleting(null), refresh()),
    }),
  );
  const fe = fieldErrors(create.error);
  return (
    <>
      <PageTitle>Users</PageTitle>
      <Card title="Add a user" className="mb-4">
        <form
          className="grid items-end gap-3 md:grid-cols-4"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate(form);
          }}
        >
          <TextInput
            label="Username"
            value={form.username}
            onChange={(e) => setForm({ ...form, username: e.target.value })}
            error={fe.username}
            required
          />
          <TextInput
            label="Password"
            type="password"
            autoComplete="new-password"
            value={form.password}
            onChange={(e) => setForm({ ...form, password: e.target.value })}
            error={fe.password}
            hint="At least 10 characters"
            required
          />
          <Select
            label="Role"
            value={form.role}
            onChange={(e) => setForm({ ...form, role: e.target.value as Role })}
          >
            <option value="viewer">viewer — reads everything</option>
            <option value="operator">operator — runs replication and failover</option>
            <option value="admin">admin — also manages sites and users</option>
          </Select>
          <Button type="submit" variant="primary" busy={create.isPending}>
            Add user
          </Button>
        </form>
        {create.error && !Object.keys(fe).length && (
          <div className="mt-2">
            <ErrorBox error={errorText(create.error)} />
          </div>
        )}
      </Card>
      <Card>
        {users.error && <ErrorBox error={errorText(users.error)} />}
        <table className="w-full text-left text-sm">
          <thead className="text-xs text-zinc-500 uppercase">
            <tr>
              <th className="py-1">User</th>
              <th>Role</th>
              <th>Status</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {users.data?.map((u) => (
              <tr key={u.id} className="border-t border-zinc-100 dark:border-zinc-800">
                <td className="py-1.5 font-medium">{u.username}</td>
                <td>
                  <label className="sr-only" htmlFor={`role-${u.id}`}>
                    Role of {u.username}
                  </label>
                  <select
                    id={`role-${u.id}`}
                    className="rounded border border-zinc-300 bg-transparent px-1 py-0.5 text-sm dark:border-zinc-600"
                    value={u.role}
                    onChange={(e) => update.mutate({ id: u.id, role: e.target.value as Role })}
                  >
                    <option value="viewer">viewer</option>
                    <option value="operator">operator</option>
                    <option value="admin">admin</option>
                  </select>
                </td>
                <td>{u.disabled ? <Badge tone="warn">disabled</Badge> : <Badge tone="ok">active</Badge>}</td>
                <td>{formatTime(u.createdAt)}</td>
                <td className="flex justify-end gap-1 py-1">
                  <Button onClick={() => update.mutate({ id: u.id, disabled: !u.disabled })}>
                    {u.disabled ? 'Enable' : 'Disable'}
                  </Button>
                  <Button
                    onClick={() => {
                      const pw = window.prompt(`New password for ${u.username} (at least 10 characters)`);
                      if (pw) setPw.mutate({ id: u.id, password: pw });
                    }}
                  >
                    Set password
                  </Button>
                  <Button variant="danger" onClick={() => setDeleting({ id: u.id, username: u.username })}>
                    Delete
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <ConfirmDialog
        open={!!deleting}
        title={`Delete user ${deleting?.username ?? ''}?`}
        confirmLabel="Delete user"
        danger
        busy={remove.isPending}
        onConfirm={() => deleting && remove.mutate({ id: deleting.id })}
        onCancel={() => setDeleting(null)}
      >
        <p>The account and its sessions are removed. Its history entries stay.</p>
      </ConfirmDialog>
    </>
  );
}
