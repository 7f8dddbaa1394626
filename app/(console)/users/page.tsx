'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { NewPasswordInput } from '@/app/_components/new-password-input';
import { useTextFields } from '@/components/text-fields';
import { DataTable, tableColumns } from '@/components/data-table';
import { FormError } from '@/components/form';
import { useToast } from '@/components/toast';
import {
  errorText,
  fieldErrors,
  useTRPC,
  invalidateAfterChange,
  type RouterInputs,
  type RouterOutputs,
} from '@/components/trpc';
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

type Role = RouterInputs['users']['create']['role'];
type UserRow = RouterOutputs['users']['list'][number];
const col = tableColumns<UserRow>();

/** The columns of the user list; the cells change a user through `act`. */
function userColumns(act: {
  update: (input: RouterInputs['users']['update']) => void;
  setPassword: (input: RouterInputs['users']['setPassword']) => void;
  askDelete: (user: { id: number; username: string }) => void;
}) {
  return [
    col.accessor('username', { header: 'User', meta: { className: 'font-medium' } }),
    col.accessor('role', {
      header: 'Role',
      cell: ({ row: { original: u } }) => (
        <>
          <label className="sr-only" htmlFor={`role-${u.id}`}>
            Role of {u.username}
          </label>
          <select
            id={`role-${u.id}`}
            className="rounded border border-zinc-300 bg-transparent px-1 py-0.5 text-sm dark:border-zinc-600"
            value={u.role}
            onChange={(e) => act.update({ id: u.id, role: e.target.value as Role })}
          >
            <option value="viewer">viewer</option>
            <option value="operator">operator</option>
            <option value="admin">admin</option>
          </select>
        </>
      ),
    }),
    col.accessor((u) => (u.disabled ? 'disabled' : 'active'), {
      id: 'status',
      header: 'Status',
      cell: (c) => <Badge tone={c.getValue() === 'disabled' ? 'warn' : 'ok'}>{c.getValue()}</Badge>,
    }),
    col.accessor('createdAt', {
      header: 'Created',
      sortFn: 'datetime',
      cell: (c) => formatTime(c.getValue()),
    }),
    col.display({
      id: 'actions',
      header: '',
      meta: { className: 'flex justify-end gap-1 py-1' },
      cell: ({ row: { original: u } }) => (
        <>
          <Button onClick={() => act.update({ id: u.id, disabled: !u.disabled })}>
            {u.disabled ? 'Enable' : 'Disable'}
          </Button>
          <Button
            onClick={() => {
              const pw = window.prompt(`New password for ${u.username} (at least 10 characters)`);
              if (pw) act.setPassword({ id: u.id, password: pw });
            }}
          >
            Set password
          </Button>
          <Button variant="danger" onClick={() => act.askDelete({ id: u.id, username: u.username })}>
            Delete
          </Button>
        </>
      ),
    }),
  ];
}

export default function UsersPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const users = useQuery(trpc.users.list.queryOptions());
  const [deleting, setDeleting] = useState<{ id: number; username: string } | null>(null);
  const refresh = () => void invalidateAfterChange(qc, { queryKey: trpc.users.pathKey() });
  const create = useMutation(
    trpc.users.create.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (u) => {
        toast.success(`Created ${u.username}`);
        form.reset();
        refresh();
      },
    }),
  );
  const fe = fieldErrors(create.error);
  const form = useTextFields({ username: '', password: '', role: 'operator' }, (k) => fe[k]);
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
  const { mutate: updateUser } = update;
  const { mutate: setPassword } = setPw;
  const columns = useMemo(
    () => userColumns({ update: updateUser, setPassword, askDelete: setDeleting }),
    [updateUser, setPassword],
  );
  return (
    <>
      <PageTitle>Users</PageTitle>
      <Card title="Add a user" className="mb-4">
        <form
          className="grid items-end gap-3 md:grid-cols-4"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate({ ...form.values, role: form.values.role as Role });
          }}
        >
          <TextInput label="Username" {...form.field('username')} required />
          <NewPasswordInput label="Password" {...form.field('password')} />
          <Select label="Role" {...form.field('role')}>
            <option value="viewer">viewer — reads everything</option>
            <option value="operator">operator — runs replication and failover</option>
            <option value="admin">admin — also manages sites and users</option>
          </Select>
          <Button type="submit" variant="primary" busy={create.isPending}>
            Add user
          </Button>
        </form>
        <FormError error={create.error} fields={fe} />
      </Card>
      <Card>
        {users.error && <ErrorBox error={errorText(users.error)} />}
        {users.data && <DataTable columns={columns} data={users.data} rowKey={(u) => u.id} />}
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
