'use client';

/**
 * The one table of the console. Pages describe their columns (TanStack Table column definitions made
 * with `tableColumns<Row>()`) and hand over rows; this component owns the markup, the look, the
 * empty state and sorting by a click on the header of an accessor column (display columns, made
 * with `display()`, do not sort). A column's
 * `meta.className` styles its cells, `meta.headClassName` its header.
 */
import {
  createColumnHelper,
  createSortedRowModel,
  rowSortingFeature,
  sortFn_alphanumeric,
  sortFn_basic,
  sortFn_datetime,
  sortFn_text,
  tableFeatures,
  useTable,
  type CellData,
  type ColumnDef,
  type RowData,
  type SortingState,
  type TableFeatures,
} from '@tanstack/react-table';
import type { HTMLAttributes, ReactNode } from 'react';
import { Fragment, useState } from 'react';
import { errorText } from './trpc';
import { Card, ErrorBox } from './ui';

/* eslint-disable @typescript-eslint/no-unused-vars -- the augmentation repeats the library's type parameters */
declare module '@tanstack/react-table' {
  interface ColumnMeta<
    TFeatures extends TableFeatures,
    TData extends RowData,
    TValue extends CellData = CellData,
  > {
    /** Classes of the column's cells. */
    className?: string;
    /** Classes of the column's header cell. */
    headClassName?: string;
  }
}
/* eslint-enable @typescript-eslint/no-unused-vars */

const features = tableFeatures({
  rowSortingFeature,
  sortedRowModel: createSortedRowModel(),
  sortFns: {
    alphanumeric: sortFn_alphanumeric,
    text: sortFn_text,
    datetime: sortFn_datetime,
    basic: sortFn_basic,
  },
});
type Features = typeof features;

/** Column helper for a table of `Row`s: `const col = tableColumns<Row>(); col.accessor(...)`. */
export function tableColumns<Row extends RowData>() {
  return createColumnHelper<Features, Row>();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TableColumn<Row extends RowData> = ColumnDef<Features, Row, any>;

const ROW_CLASS = 'border-t border-zinc-100 dark:border-zinc-800';

export type DataTableProps<Row extends RowData> = {
  /** Stable (module scope or memoised) column definitions. */
  columns: TableColumn<Row>[];
  data: readonly Row[];
  rowKey: (row: Row) => string | number;
  /** Extra attributes of a row (data-testid, aria-selected, a class appended to the row's own). */
  rowProps?: (row: Row) => HTMLAttributes<HTMLTableRowElement> & Record<`data-${string}`, string | undefined>;
  /** What stands in the table's place when there are no rows (nothing when omitted). */
  empty?: ReactNode;
  initialSort?: SortingState;
  /** Sort by a click on an accessor column's header (off for a page of server-paged rows). */
  sortable?: boolean;
  /**
   * Rows the server sorts: the table marks `sorting` and, on a header click, asks for the next
   * order (`onSortingChange`) instead of sorting itself. Accessor columns with `enableSorting: true`
   * are the ones the server can sort by.
   */
  serverSort?: { sorting: SortingState; onSortingChange: (next: SortingState) => void };
  /** A full-width row under a row (details it opens), or null. */
  detail?: (row: Row) => {
    id: string;
    content: ReactNode;
    /** Attributes of the detail row (data-testid, className). */
    props?: HTMLAttributes<HTMLTableRowElement> & Record<`data-${string}`, string | undefined>;
    cellClassName?: string;
  } | null;
  className?: string;
} & Omit<HTMLAttributes<HTMLTableElement>, 'className'> &
  Record<`data-${string}`, string | undefined>;

export function DataTable<Row extends RowData>({
  columns,
  data,
  rowKey,
  rowProps,
  empty,
  initialSort = [],
  sortable = true,
  serverSort,
  detail,
  className = 'w-full text-left text-sm',
  ...rest
}: DataTableProps<Row>) {
  const [ownSorting, setOwnSorting] = useState<SortingState>(initialSort);
  const sorting = serverSort?.sorting ?? ownSorting;
  const table = useTable({
    features,
    columns,
    data: data as Row[],
    getRowId: (row) => String(rowKey(row)),
    state: { sorting },
    onSortingChange: (u) => {
      const next = typeof u === 'function' ? u(sorting) : u;
      if (serverSort) serverSort.onSortingChange(next);
      else setOwnSorting(next);
    },
    enableSorting: sortable || !!serverSort,
    manualSorting: !!serverSort,
    enableSortingRemoval: !serverSort,
  });
  if (data.length === 0) return empty ? <>{empty}</> : null;
  return (
    <table className={className} {...rest}>
      <thead className="text-xs text-zinc-500 uppercase">
        {table.getHeaderGroups().map((group) => (
          <tr key={group.id}>
            {group.headers.map((header, i) => {
              const meta = header.column.columnDef.meta;
              const cls = [i === 0 ? 'py-1' : '', meta?.headClassName ?? ''].join(' ').trim() || undefined;
              if (header.isPlaceholder) return <th key={header.id} className={cls} />;
              const sorted = header.column.getIsSorted();
              return (
                <th
                  key={header.id}
                  className={cls}
                  aria-sort={sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : undefined}
                >
                  {header.column.getCanSort() ? (
                    <button
                      type="button"
                      className="inline-flex items-center gap-1 uppercase hover:text-zinc-800 dark:hover:text-zinc-200"
                      onClick={header.column.getToggleSortingHandler()}
                    >
                      <table.FlexRender header={header} />
                      <span aria-hidden>{sorted === 'asc' ? '▲' : sorted === 'desc' ? '▼' : '↕'}</span>
                    </button>
                  ) : (
                    <table.FlexRender header={header} />
                  )}
                </th>
              );
            })}
          </tr>
        ))}
      </thead>
      <tbody>
        {table.getRowModel().rows.map((row) => {
          const { className: extra, ...attrs } = rowProps?.(row.original) ?? {};
          const more = detail?.(row.original);
          return (
            <Fragment key={row.id}>
              <tr className={extra ? `${ROW_CLASS} ${extra}` : ROW_CLASS} {...attrs}>
                {row.getAllCells().map((cell, i) => {
                  const meta = cell.column.columnDef.meta;
                  const cls = [i === 0 ? 'py-1.5' : '', meta?.className ?? ''].join(' ').trim() || undefined;
                  return (
                    <td key={cell.id} className={cls}>
                      <table.FlexRender cell={cell} />
                    </td>
                  );
                })}
              </tr>
              {more && (
                <tr
                  id={more.id}
                  {...more.props}
                  className={`${ROW_CLASS} ${more.props?.className ?? ''}`.trim()}
                >
                  <td colSpan={row.getAllCells().length} className={more.cellClassName ?? 'py-2'}>
                    {more.content}
                  </td>
                </tr>
              )}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}

/** A query's rows in a card: the query's error, or the table once its rows are there. */
export function QueryTable<Row extends RowData>({
  query,
  ...table
}: { query: { data?: readonly Row[]; error: { message: string } | null } } & Omit<
  DataTableProps<Row>,
  'data'
>) {
  return (
    <>
      {query.error && <ErrorBox error={errorText(query.error)} />}
      <Card>{query.data && <DataTable data={query.data} {...table} />}</Card>
    </>
  );
}
