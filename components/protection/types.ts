import type { RouterInputs, RouterOutputs } from '../trpc';

/** One row of the protection table, as the browser receives it. */
export type ProtectedObject = RouterOutputs['protection']['list']['rows'][number];
export type ProtectionHealth = ProtectedObject['health'];
export type ProtectedKind = ProtectedObject['kind'];
/** What the server sorts the protection table by. */
export type ProtectionSort = NonNullable<Exclude<RouterInputs['protection']['list'], void>['sort']>;
type Series = RouterOutputs['protectionHistory']['series'];
/** One collected sample of an object's history (averaged over the series' resolution). */
export type SeriesPoint = Series['points'][number];
/** The syncs of a VM replica in one stretch of its history. */
export type RunPoint = Series['runs'][number];
