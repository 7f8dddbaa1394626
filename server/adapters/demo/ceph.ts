import type { CephLabImages } from '../ceph/lab-images';
import crypto from 'node:crypto';
import { AppError } from '../../core/errors';
import { checkMirrorSnapshot, imageSpec, mirrorSnapshotGone, poolSpec, testCopyFeatures } from '../ceph/cli';
import { countCliCalls, noteCliCalls } from '../ceph/call-count';
import { normalizeMonHosts } from '../ceph/mon-host';
import { parseScheduleInterval, parseScheduleStartTime, formatScheduleInterval } from '../ceph/schedule';
import { decodeBootstrapToken, encodeBootstrapToken } from '../ceph/token';
import type {
  BootstrapDirection,
  CephAdapter,
  CephMirrorSnapshot,
  CephProbe,
  ImageInfo,
  ImageMirrorMode,
  ImageMirrorStatus,
  ImageSnapshot,
  ImageSummary,
  MirrorDaemon,
  MirrorMode,
  PeerDirection,
  PoolMirrorInfo,
  PoolMirrorState,
  PoolMirrorStatus,
  PoolMirrorStatusVerbose,
  PoolMirrorSummary,
  RbdPool,
  ScheduleLevel,
  SnapshotScheduleEntry,
  SnapshotScheduleStatus,
  TestCopyResult,
} from '../ceph/types';
import { assertName } from '../../core/names';
import type { DemoCluster, DemoWorld } from './world';
import type { Sim, SimCluster, SimImage, SimPeer, SimPool } from './ceph/model';
import {
  DEFAULT_FEATURES,
  KNOWN_FEATURES,
  OBJECT_BYTES,
  fmtCtime,
  fmtOffset,
  hash,
  imageOf,
  levelKey,
  monHostOf,
  namespaceOf,
  otherSide,
  pairOf,
  poolOf,
  sameStart,
  sideOf,
  uuidFrom,
} from './ceph/model';
import { simOf } from './ceph/seed';
import {
  daemonInstances,
  daemonsOf,
  imageList,
  imageSnapshots,
  imageStatus,
  imageStatuses,
  scheduleEntries,
  scheduleStatuses,
  snapId,
  summary,
} from './ceph/status';
import {
  addSnap,
  copied,
  demoteSide,
  promoteSide,
  sideContent,
  startPair,
  startResync,
  tick,
} from './ceph/timeline';

export { DEMO_NAMESPACE } from './ceph/seed';

/** The demo's Ceph adapter: the same interface as CephCliAdapter over the shared simulation. */
export class DemoCephAdapter implements CephAdapter, CephLabImages {
  readonly kind = 'ceph' as const;
  #calls = 0;

  constructor(
    private readonly world: DemoWorld,
    readonly clusterName: string,
  ) {}

  get cliCalls(): number {
    return this.#calls;
  }

  // ---------------------------------------------------------------- plumbing

  get #sim(): Sim {
    return simOf(this.world);
  }

  #worldCluster(): DemoCluster {
    const c = this.world.cluster(this.clusterName);
    if (!c)
      throw new AppError('UNREACHABLE', `demo cluster ${this.clusterName} does not exist in the simulation`);
    return c;
  }

  #me(): SimCluster {
    this.#worldCluster();
    const c = this.#sim.clusters.get(this.clusterName);
    if (!c)
      throw new AppError('UNREACHABLE', `demo cluster ${this.clusterName} does not exist in the simulation`);
    return c;
  }

  #count(n: number): void {
    this.#calls += n;
    noteCliCalls(n);
  }

  get #now(): number {
    return this.world.clock.now();
  }

  /** One simulated CLI round trip: latency, call counting and the clock-driven schedule runs. */
  async #step(calls = 1, signal?: AbortSignal): Promise<SimCluster> {
    this.#count(calls);
    await this.world.delay(signal);
    if (this.world.down.has(this.clusterName)) {
      await this.world.delay(signal, this.world.unreachableAfterMs);
      throw new AppError(
        'UNREACHABLE',
        `the monitors of demo cluster ${this.clusterName} did not answer within 5 s (powered off in the simulation)`,
      );
    }
    const me = this.#me();
    tick(this.#sim, this.world.down, this.#now);
    return me;
  }

  #enabled(mode: MirrorMode, what: string): void {
    if (mode === 'disabled')
      throw new AppError(
        'PRECONDITION_FAILED',
        `mirroring is not enabled on pool ${what}: set its mirror mode to image or pool first (rbd: mirroring not enabled on the pool)`,
      );
  }

  // ---------------------------------------------------------------- cluster

  async probe(signal?: AbortSignal): Promise<CephProbe> {
    const c = await this.#step(3, signal);
    return { fsid: c.fsid, health: 'HEALTH_OK', version: 'ceph version 16.2.15 (demo) pacific (stable)' };
  }

  async listMirrorPools(): Promise<PoolMirrorSummary[]> {
    const c = await this.#step();
    return [...c.pools.values()].map((p) => {
      const statuses = p.mode === 'disabled' ? [] : imageStatuses(this.#sim, c, p.name, '', this.#now);
      const sum = p.mode === 'disabled' ? null : summary(statuses);
      return {
        pool: p.name,
        namespace: '',
        mode: p.mode,
        siteName: p.mode === 'disabled' ? '' : c.siteName,
        peers: p.peers.map(({ monHost: _m, ...peer }) => peer),
        health: sum?.health ?? 'UNKNOWN',
        daemonHealth: sum?.daemonHealth ?? 'UNKNOWN',
        imageHealth: sum?.imageHealth ?? 'UNKNOWN',
        states: sum?.states ?? {},
      };
    });
  }

  // ---------------------------------------------------------------- pools

  async listRbdPools(): Promise<RbdPool[]> {
    const c = await this.#step();
    return [...c.pools.values()].map((p) => ({
      name: p.name,
      id: p.id,
      namespaces: [...p.namespaces.keys()].filter(Boolean).sort(),
    }));
  }

  async getPoolMirrorInfo(pool: string, namespace = ''): Promise<PoolMirrorInfo> {
    const c = await this.#step();
    const { pool: p, ns } = namespaceOf(c, pool, namespace);
    return {
      pool,
      namespace,
      mode: ns.mode,
      siteName: p.mode === 'disabled' ? null : c.siteName,
      peers: p.peers.map((x) => ({ ...x })),
    };
  }

  async getPoolMirrorStatus(pool: string, namespace = ''): Promise<PoolMirrorStatus> {
    const c = await this.#step();
    const { ns } = namespaceOf(c, pool, namespace);
    this.#enabled(ns.mode, poolSpec(pool, namespace));
    return { pool, namespace, summary: summary(imageStatuses(this.#sim, c, pool, namespace, this.#now)) };
  }

  async getPoolMirrorStatusVerbose(pool: string, namespace = ''): Promise<PoolMirrorStatusVerbose> {
    const c = await this.#step();
    const { ns } = namespaceOf(c, pool, namespace);
    this.#enabled(ns.mode, poolSpec(pool, namespace));
    const images = imageStatuses(this.#sim, c, pool, namespace, this.#now);
    return { pool, namespace, summary: summary(images), daemons: daemonInstances(c), images };
  }

  async setPoolMirrorMode(
    pool: string,
    namespace: string,
    mode: MirrorMode,
    opts: { siteName?: string } = {},
  ): Promise<void> {
    const c = await this.#step();
    const { pool: p, ns } = namespaceOf(c, pool, namespace);
    if (mode === 'disabled') {
      if (!namespace && p.peers.length > 0) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `mirroring of pool ${pool} cannot be disabled while peers are registered: remove the peers first (mode_set: mirror peers still registered)`,
        );
      }
      if ([...ns.images.values()].some((i) => i.pair)) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `mirroring of ${poolSpec(pool, namespace)} cannot be disabled while images have mirroring enabled: disable mirroring on those images first`,
        );
      }
      const enabledNs = [...p.namespaces.entries()]
        .filter(([n, v]) => n && v.mode !== 'disabled')
        .map(([n]) => n);
      if (!namespace && enabledNs.length > 0) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `mirroring of pool ${pool} cannot be disabled while its namespace(s) ${enabledNs.join(', ')} mirror: disable mirroring of those namespaces first`,
        );
      }
    } else if (mode !== 'image' && mode !== 'pool')
      throw AppError.invalid(
        'mode',
        `${JSON.stringify(mode)} is not a mirror mode (disabled, image or pool)`,
      );
    if (opts.siteName) c.siteName = assertName('ceph', opts.siteName, 'siteName');
    if (namespace && mode !== 'disabled' && p.mode === 'disabled') this.#enabled(p.mode, pool);
    ns.mode = mode;
    if (!namespace) p.mode = mode;
    if (mode === 'pool') {
      for (const img of ns.images.values())
        if (!img.pair && img.features.includes('journaling'))
          startPair(this.#sim, c, p, namespace, img, 'journal', this.#now);
    }
  }

  // ---------------------------------------------------------------- site name

  async getSiteName(pool: string): Promise<string | null> {
    const c = await this.#step();
    return poolOf(c, pool).mode === 'disabled' ? null : c.siteName;
  }

  async setSiteName(pool: string, mode: Exclude<MirrorMode, 'disabled'>, siteName: string): Promise<void> {
    const c = await this.#step(2);
    assertName('ceph', siteName, 'siteName');
    // As `rbd mirror pool enable --site-name`: the pool is mirrored in `mode` afterwards.
    poolOf(c, pool).mode = mode;
    const old = c.siteName;
    c.siteName = siteName;
    // Peers elsewhere learn the new name from the daemons.
    for (const other of this.#sim.clusters.values())
      for (const p of other.pools.values())
        for (const peer of p.peers)
          if (peer.mirrorUuid === c.mirrorUuid && peer.siteName === old) peer.siteName = siteName;
  }

  // ---------------------------------------------------------------- bootstrap and peers

  async createBootstrapToken(pool: string, opts: { siteName?: string } = {}): Promise<string> {
    const c = await this.#step();
    this.#enabled(poolOf(c, pool).mode, pool);
    if (opts.siteName) c.siteName = assertName('ceph', opts.siteName, 'siteName');
    return encodeBootstrapToken({
      fsid: c.fsid,
      clientId: 'rbd-mirror-peer',
      key: `AQ${Buffer.from(hash('key', c.fsid)).toString('base64').slice(0, 38)}==`,
      monHost: monHostOf(c),
    });
  }

  async importBootstrapToken(
    pool: string,
    token: string,
    opts: { direction: BootstrapDirection; siteName?: string },
  ): Promise<void> {
    const decoded = decodeBootstrapToken(token);
    const c = await this.#step();
    if (opts.direction !== 'rx-only' && opts.direction !== 'rx-tx')
      throw AppError.invalid('direction', 'must be rx-only or rx-tx');
    const p = poolOf(c, pool);
    this.#enabled(p.mode, pool);
    if (opts.siteName) c.siteName = assertName('ceph', opts.siteName, 'siteName');
    const remote = [...this.#sim.clusters.values()].find((x) => x.fsid === decoded.fsid);
    if (!remote)
      throw new AppError(
        'UNREACHABLE',
        `the token points at cluster ${decoded.fsid} (${decoded.monHost}), which the demo cannot reach`,
      );
    if (remote === c)
      throw new AppError(
        'INVALID_INPUT',
        'token: this token was created on this very cluster; import it on the other site',
      );
    const rp = poolOf(remote, pool);
    this.#enabled(rp.mode, `${pool} on ${remote.siteName}`);
    const upsert = (on: SimPool, self: SimCluster, peer: SimCluster, direction: PeerDirection) => {
      const existing = on.peers.find((x) => x.mirrorUuid === peer.mirrorUuid);
      if (existing) {
        existing.direction = direction;
        existing.siteName = peer.siteName;
        return;
      }
      on.peers.push({
        uuid: uuidFrom(`${self.fsid}/peer/${peer.fsid}/${this.#now}`),
        siteName: peer.siteName,
        direction,
        clientName: `client.${decoded.clientId}`,
        mirrorUuid: peer.mirrorUuid,
        monHost: monHostOf(peer),
      });
    };
    upsert(p, c, remote, opts.direction);
    if (opts.direction === 'rx-tx') upsert(rp, remote, c, 'rx-tx');
  }

  async #peer(pool: string, uuid: string): Promise<{ c: SimCluster; p: SimPool; peer: SimPeer }> {
    const c = await this.#step();
    const p = poolOf(c, pool);
    const peer = p.peers.find((x) => x.uuid === uuid);
    if (!peer)
      throw new AppError(
        'NOT_FOUND',
        `that mirror peer does not exist (rbd: mirror peer ${uuid} does not exist)`,
      );
    return { c, p, peer };
  }

  async setPeerClient(pool: string, peerUuid: string, clientName: string): Promise<void> {
    const id = clientName.startsWith('client.') ? clientName.slice('client.'.length) : clientName;
    assertName('cephClient', id, 'clientName');
    (await this.#peer(pool, peerUuid)).peer.clientName = `client.${id}`;
  }

  async setPeerMonHost(pool: string, peerUuid: string, monHost: string): Promise<void> {
    if (!/^[A-Za-z0-9[][A-Za-z0-9.:,[\]/_-]{0,1023}$/.test(monHost))
      throw AppError.invalid('monHost', `${JSON.stringify(monHost)} is not a list of monitor addresses`);
    (await this.#peer(pool, peerUuid)).peer.monHost = normalizeMonHosts(monHost);
  }

  async setPeerSiteName(pool: string, peerUuid: string, siteName: string): Promise<void> {
    assertName('ceph', siteName, 'siteName');
    (await this.#peer(pool, peerUuid)).peer.siteName = siteName;
  }

  async setPeerDirection(pool: string, peerUuid: string, direction: PeerDirection): Promise<void> {
    if (!['rx-only', 'rx-tx', 'tx-only'].includes(direction))
      throw AppError.invalid('direction', 'must be rx-only, rx-tx or tx-only');
    (await this.#peer(pool, peerUuid)).peer.direction = direction;
  }

  async removePeer(pool: string, peerUuid: string): Promise<void> {
    const { p, peer } = await this.#peer(pool, peerUuid);
    p.peers = p.peers.filter((x) => x !== peer);
  }

  // ---------------------------------------------------------------- journaling

  async enableJournaling(pool: string, namespace: string, image: string): Promise<void> {
    const c = await this.#step();
    const img = imageOf(c, pool, namespace, image);
    this.#writable(c, img, imageSpec(pool, namespace, image));
    if (!img.features.includes('exclusive-lock'))
      throw new AppError(
        'PRECONDITION_FAILED',
        `${imageSpec(pool, namespace, image)} lacks the exclusive-lock feature that journaling needs`,
      );
    if (!img.features.includes('journaling')) img.features.push('journaling');
    this.#poolModeMirrors(c, pool, namespace, img);
  }

  /** In pool mode Ceph mirrors (journal-based) every image that has the journaling feature. */
  #poolModeMirrors(c: SimCluster, pool: string, namespace: string, img: SimImage): void {
    const { pool: p, ns } = namespaceOf(c, pool, namespace);
    if (ns.mode === 'pool' && !img.pair && img.features.includes('journaling'))
      startPair(this.#sim, c, p, namespace, img, 'journal', this.#now);
  }

  async disableJournaling(pool: string, namespace: string, image: string): Promise<void> {
    const c = await this.#step();
    const img = imageOf(c, pool, namespace, image);
    this.#writable(c, img, imageSpec(pool, namespace, image));
    const pair = pairOf(this.#sim, img);
    if (pair?.mode === 'journal') {
      throw new AppError(
        'PRECONDITION_FAILED',
        `journaling of ${imageSpec(pool, namespace, image)} cannot be turned off while journal-based mirroring is enabled for it: disable its mirroring first`,
      );
    }
    img.features = img.features.filter((f) => f !== 'journaling');
  }

  // ---------------------------------------------------------------- schedules

  #checkLevel(c: SimCluster, level: ScheduleLevel): string {
    const key = levelKey(level);
    if (level.pool) {
      namespaceOf(c, level.pool, level.namespace ?? '');
      if (level.image) {
        const img = imageOf(c, level.pool, level.namespace ?? '', level.image);
        const pair = pairOf(this.#sim, img);
        if (pair?.mode !== 'snapshot') {
          throw new AppError(
            'PRECONDITION_FAILED',
            `${imageSpec(level.pool, level.namespace ?? '', level.image)} is not in snapshot mirroring mode: snapshot schedules apply only to snapshot-mirrored images`,
          );
        }
      }
    }
    return key;
  }

  async listSnapshotSchedules(level: ScheduleLevel = {}): Promise<SnapshotScheduleEntry[]> {
    const c = await this.#step();
    const key = this.#checkLevel(c, level);
    return scheduleEntries(c, key);
  }

  async addSnapshotSchedule(level: ScheduleLevel, interval: string, startTime?: string): Promise<void> {
    const iv = parseScheduleInterval(interval);
    const st = startTime && startTime.trim() ? parseScheduleStartTime(startTime) : null;
    const c = await this.#step();
    const key = this.#checkLevel(c, level);
    const items = c.schedules.get(key) ?? [];
    const shown = st
      ? `${String(st.hour).padStart(2, '0')}:${String(st.minute).padStart(2, '0')}:00${st.offsetMinutes === null ? '' : fmtOffset(st.offsetMinutes)}`
      : null;
    if (
      !items.some(
        (i) =>
          parseScheduleInterval(i.interval).minutes === iv.minutes &&
          sameStart(i.startTime, st?.text ?? null),
      )
    ) {
      items.push({ interval: formatScheduleInterval(iv.minutes), startTime: shown });
    }
    c.schedules.set(key, items);
  }

  async removeSnapshotSchedule(level: ScheduleLevel, interval?: string, startTime?: string): Promise<void> {
    const c = await this.#step();
    const key = this.#checkLevel(c, level);
    if (interval === undefined) {
      if (startTime) throw AppError.invalid('startTime', 'a start time needs its interval');
      c.schedules.delete(key);
      return;
    }
    const iv = parseScheduleInterval(interval);
    const st = startTime && startTime.trim() ? startTime : null;
    const items = (c.schedules.get(key) ?? []).filter(
      (i) => !(parseScheduleInterval(i.interval).minutes === iv.minutes && sameStart(i.startTime, st)),
    );
    if (items.length) c.schedules.set(key, items);
    else c.schedules.delete(key);
  }

  async getSnapshotScheduleStatus(level: ScheduleLevel = {}): Promise<SnapshotScheduleStatus[]> {
    const c = await this.#step();
    this.#checkLevel(c, level);
    return scheduleStatuses(this.#sim, c, level, this.#now);
  }

  // ---------------------------------------------------------------- images

  async listImages(pool: string, namespace = ''): Promise<ImageSummary[]> {
    const c = await this.#step(2);
    return imageList(this.#sim, c, pool, namespace, this.#now);
  }

  async getImageInfo(pool: string, namespace: string, image: string): Promise<ImageInfo> {
    const c = await this.#step();
    const img = imageOf(c, pool, namespace, image);
    const pair = pairOf(this.#sim, img);
    const side = pair ? sideOf(pair, c.name) : undefined;
    return {
      pool,
      namespace,
      name: img.name,
      id: img.id,
      sizeBytes: img.sizeBytes,
      objectSizeBytes: OBJECT_BYTES,
      features: side && !side.primary ? [...img.features, 'non-primary'] : [...img.features],
      opFeatures: [],
      snapshotCount:
        img.userSnaps.length +
        (pair ? pair.snaps.filter((s) => copied(pair, s, c.name, this.#now)).length : 0),
      createdAt: fmtCtime(img.createdAt),
      mirroring:
        pair && side
          ? { mode: pair.mode, state: 'enabled', globalId: pair.globalId, primary: side.primary }
          : { mode: null, state: 'disabled', globalId: null, primary: null },
    };
  }

  async getImageMirrorStatus(pool: string, namespace: string, image: string): Promise<ImageMirrorStatus> {
    const c = await this.#step();
    const img = imageOf(c, pool, namespace, image);
    const s = imageStatus(this.#sim, c, pool, namespace, img, this.#now);
    if (!s)
      throw new AppError(
        'PRECONDITION_FAILED',
        `mirroring is not enabled for ${imageSpec(pool, namespace, image)}`,
      );
    return s;
  }

  async enableImageMirroring(
    pool: string,
    namespace: string,
    image: string,
    mode: ImageMirrorMode,
  ): Promise<void> {
    if (mode !== 'journal' && mode !== 'snapshot')
      throw AppError.invalid('mode', 'must be journal or snapshot');
    const c = await this.#step();
    const { pool: p, ns } = namespaceOf(c, pool, namespace);
    const img = imageOf(c, pool, namespace, image);
    if (ns.mode === 'disabled')
      throw new AppError(
        'PRECONDITION_FAILED',
        `mirroring is not enabled on pool ${poolSpec(pool, namespace)}: set its mirror mode to image or pool first`,
      );
    if (img.pair) return; // already enabled: Ceph says so and succeeds
    if (mode === 'journal' && !img.features.includes('journaling')) {
      throw new AppError(
        'PRECONDITION_FAILED',
        `${imageSpec(pool, namespace, image)} needs the journaling feature for journal-based mirroring`,
      );
    }
    startPair(this.#sim, c, p, namespace, img, mode, this.#now);
  }

  async disableImageMirroring(
    pool: string,
    namespace: string,
    image: string,
    opts: { force?: boolean } = {},
  ): Promise<void> {
    const c = await this.#step();
    const img = imageOf(c, pool, namespace, image);
    const pair = pairOf(this.#sim, img);
    if (!pair) return;
    const side = sideOf(pair, c.name);
    if (side && !side.primary && !opts.force) {
      throw new AppError(
        'PRECONDITION_FAILED',
        `${imageSpec(pool, namespace, image)} is not primary on this cluster: disable mirroring on the primary, or force it here`,
      );
    }
    img.content = side ? sideContent(pair, side, this.#now) : img.content;
    img.pair = null;
    pair.sides = pair.sides.filter((s) => s.cluster !== c.name);
    if (side?.primary || pair.sides.length === 0) {
      // rbd-mirror deletes the non-primary copies once the primary stops mirroring.
      for (const s of pair.sides) {
        const rc = this.#sim.clusters.get(s.cluster);
        const rimg = rc?.pools.get(pool)?.namespaces.get(namespace)?.images.get(image);
        if (rimg && rimg.pair === pair.globalId && !s.primary)
          rc!.pools.get(pool)!.namespaces.get(namespace)!.images.delete(image);
        else if (rimg && rimg.pair === pair.globalId) rimg.pair = null;
      }
      this.#sim.pairs.delete(pair.globalId);
    }
    for (const [k] of c.schedules) if (k === `${pool}/${namespace}/${image}`) c.schedules.delete(k);
  }

  async promoteImage(
    pool: string,
    namespace: string,
    image: string,
    opts: { force?: boolean } = {},
  ): Promise<void> {
    const { c, spec, pair, side } = await this.#mirrored(pool, namespace, image);
    if (side.primary) throw new AppError('PRECONDITION_FAILED', `${spec} is already primary on this cluster`);
    const other = otherSide(pair, c.name);
    if (!opts.force) {
      if (side.resyncUntil !== null)
        throw new AppError('CONFLICT', `${spec} is being resynced; wait until it replays again`, {
          details: { retryable: true },
        });
      if (other?.primary) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `${spec} is still primary on ${this.#sim.clusters.get(other.cluster)?.siteName ?? other.cluster}: demote it there first (or force the promotion, accepting a split-brain)`,
        );
      }
      const last = pair.snaps[pair.snaps.length - 1];
      if (last && last.origin !== c.name && !copied(pair, last, c.name, this.#now)) {
        throw new AppError(
          'CONFLICT',
          `${spec} cannot be promoted yet: the demotion of the other site has not been copied here completely; retry in a few seconds (or force the promotion, accepting a split-brain) (rbd: error promoting image to primary: (16) Device or resource busy)`,
          {
            details: { retryable: true },
          },
        );
      }
    } else if (other?.primary) pair.diverged = true;
    promoteSide(pair, side, this.#now);
  }

  /** The image's mirrored pair and this cluster's side of it; refuses an image without mirroring. */
  async #mirrored(pool: string, namespace: string, image: string) {
    const c = await this.#step();
    const spec = imageSpec(pool, namespace, image);
    const img = imageOf(c, pool, namespace, image);
    const pair = pairOf(this.#sim, img);
    const side = pair ? sideOf(pair, c.name) : undefined;
    if (!pair || !side) throw new AppError('PRECONDITION_FAILED', `mirroring is not enabled for ${spec}`);
    return { c, spec, img, pair, side };
  }

  async demoteImage(pool: string, namespace: string, image: string): Promise<void> {
    const { spec, pair, side } = await this.#mirrored(pool, namespace, image);
    if (!side.primary)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${spec} is not primary on this cluster (image is not primary)`,
      );
    demoteSide(pair, side, this.#now);
  }

  async resyncImage(pool: string, namespace: string, image: string): Promise<void> {
    const { spec, img, pair, side } = await this.#mirrored(pool, namespace, image);
    if (side.primary)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${spec} is primary here: a resync replaces a non-primary image with the primary's data`,
      );
    startResync(pair, side, img, this.#now);
  }

  async createMirrorSnapshot(
    pool: string,
    namespace: string,
    image: string,
  ): Promise<{ snapshotId: string }> {
    const { c, spec, pair, side } = await this.#mirrored(pool, namespace, image);
    if (pair.mode !== 'snapshot')
      throw new AppError('PRECONDITION_FAILED', `${spec} is not in snapshot mirroring mode`);
    if (!side.primary) throw new AppError('PRECONDITION_FAILED', `${spec} is not primary on this cluster`);
    const snap = addSnap(pair, side, this.#now, false);
    return { snapshotId: snapId(snap, c.name) };
  }

  async listImageSnapshots(pool: string, namespace: string, image: string): Promise<ImageSnapshot[]> {
    const c = await this.#step();
    return imageSnapshots(this.#sim, c, pool, imageOf(c, pool, namespace, image), this.#now);
  }

  /**
   * The simulated import of a mirror snapshot (see CephCliAdapter.createTestCopy): an unmirrored
   * image with the content the snapshot has, listed like any other image. As many simulated CLI
   * calls as the real one makes.
   */
  async createTestCopy(
    pool: string,
    namespace: string,
    image: string,
    snapshotId: string,
    dest: string,
  ): Promise<TestCopyResult> {
    const [src, dst] = [imageSpec(pool, namespace, image), imageSpec(pool, namespace, dest)];
    if (!/^\d{1,20}$/.test(snapshotId))
      throw AppError.invalid('snapshotId', `${JSON.stringify(snapshotId)} is not a snapshot id`);
    if (dest === image) throw AppError.invalid('dest', 'the copy needs a name of its own');
    const c = await this.#step(8);
    const { ns } = namespaceOf(c, pool, namespace);
    const img = imageOf(c, pool, namespace, image);
    if (ns.images.has(dest)) throw new AppError('ALREADY_EXISTS', `${dst} already exists`);
    const snap = imageSnapshots(this.#sim, c, pool, img, this.#now).find((x) => x.id === snapshotId);
    if (!snap) throw mirrorSnapshotGone(src, snapshotId);
    checkMirrorSnapshot(src, snap);
    const pair = pairOf(this.#sim, img)!;
    const at = pair.snaps.find((x) => snapId(x, c.name) === snapshotId)!;
    const features = testCopyFeatures(img.features);
    ns.images.set(dest, {
      name: dest,
      id: hash('image-id', c.name, pool, namespace, dest, this.#now).slice(0, 12),
      sizeBytes: img.sizeBytes,
      features,
      createdAt: this.#now,
      pair: null,
      content: at.content,
      userSnaps: img.userSnaps.filter((u) => u.at <= at.at).map((u) => ({ ...u })),
    });
    return { method: 'copy', snapshotId, sizeBytes: img.sizeBytes, features };
  }

  async removeTestCopy(pool: string, namespace: string, dest: string): Promise<void> {
    const dst = imageSpec(pool, namespace, dest);
    const c = await this.#step(3);
    const { ns } = namespaceOf(c, pool, namespace);
    const img = ns.images.get(dest);
    if (!img) return;
    if (img.pair)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${dst} has mirroring enabled: it is not a test copy, refusing to remove it`,
      );
    ns.images.delete(dest);
  }

  async createImage(
    pool: string,
    namespace: string,
    name: string,
    sizeBytes: number,
    features?: string[],
  ): Promise<void> {
    const spec = imageSpec(pool, namespace, name);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0)
      throw AppError.invalid('sizeBytes', 'must be a positive whole number of bytes');
    for (const f of features ?? [])
      if (!KNOWN_FEATURES.includes(f))
        throw AppError.invalid(
          'features',
          `${JSON.stringify(f)} is not an image feature (${KNOWN_FEATURES.join(', ')})`,
        );
    const c = await this.#step();
    const { pool: p, ns } = namespaceOf(c, pool, namespace);
    if (ns.images.has(name))
      throw new AppError('ALREADY_EXISTS', `${spec} already exists (rbd: create error: (17) File exists)`);
    const feats = features && features.length ? [...features] : [...DEFAULT_FEATURES];
    if (feats.includes('journaling') && !feats.includes('exclusive-lock'))
      throw new AppError(
        'PRECONDITION_FAILED',
        `${spec} lacks the exclusive-lock feature that journaling needs`,
      );
    const img: SimImage = {
      name,
      id: hash('image-id', c.name, pool, namespace, name, this.#now).slice(0, 12),
      sizeBytes,
      features: feats,
      createdAt: this.#now,
      pair: null,
      content: hash('empty', sizeBytes),
      userSnaps: [],
    };
    ns.images.set(name, img);
    if (ns.mode === 'pool' && feats.includes('journaling'))
      startPair(this.#sim, c, p, namespace, img, 'journal', this.#now);
  }

  async removeImage(pool: string, namespace: string, name: string): Promise<void> {
    const c = await this.#step();
    const spec = imageSpec(pool, namespace, name);
    const { ns } = namespaceOf(c, pool, namespace);
    const img = imageOf(c, pool, namespace, name);
    const pair = pairOf(this.#sim, img);
    const side = pair ? sideOf(pair, c.name) : undefined;
    if (pair && side?.primary)
      throw new AppError('PRECONDITION_FAILED', `${spec} has mirroring enabled: disable its mirroring first`);
    if (img.userSnaps.length > 0)
      throw new AppError('PRECONDITION_FAILED', `${spec} still has snapshots: remove them first`);
    ns.images.delete(name);
    if (pair) pair.sides = pair.sides.filter((s) => s.cluster !== c.name);
  }

  async copyImage(
    pool: string,
    namespace: string,
    image: string,
    dest: string,
    opts: { features?: string[] } = {},
  ): Promise<void> {
    const c = await this.#step();
    const { ns } = namespaceOf(c, pool, namespace);
    const src = imageOf(c, pool, namespace, image);
    if (ns.images.has(dest))
      throw new AppError(
        'ALREADY_EXISTS',
        `${imageSpec(pool, namespace, dest)} already exists (rbd: deep copy error: (17) File exists)`,
      );
    for (const f of opts.features ?? [])
      if (!KNOWN_FEATURES.includes(f))
        throw AppError.invalid(
          'features',
          `${JSON.stringify(f)} is not an image feature (${KNOWN_FEATURES.join(', ')})`,
        );
    const pair = pairOf(this.#sim, src);
    const side = pair ? sideOf(pair, c.name) : undefined;
    const content = pair && side ? sideContent(pair, side, this.#now) : src.content;
    const features = opts.features?.length ? [...opts.features] : [...src.features];
    ns.images.set(dest, {
      name: dest,
      id: hash('image-id', c.name, pool, namespace, dest, this.#now).slice(0, 12),
      sizeBytes: src.sizeBytes,
      features,
      createdAt: this.#now,
      pair: null,
      content,
      userSnaps: src.userSnaps.map((u) => ({ ...u })),
    });
  }

  async renameImage(pool: string, namespace: string, image: string, dest: string): Promise<void> {
    const c = await this.#step();
    const { ns } = namespaceOf(c, pool, namespace);
    const img = imageOf(c, pool, namespace, image);
    if (ns.images.has(dest))
      throw new AppError(
        'ALREADY_EXISTS',
        `${imageSpec(pool, namespace, dest)} already exists (rbd: rename error: (17) File exists)`,
      );
    if (img.pair)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${imageSpec(pool, namespace, image)} has mirroring enabled: disable its mirroring first`,
      );
    ns.images.delete(image);
    img.name = dest;
    ns.images.set(dest, img);
  }

  async imageChecksum(pool: string, namespace: string, image: string): Promise<string> {
    const c = await this.#step();
    const img = imageOf(c, pool, namespace, image);
    const pair = pairOf(this.#sim, img);
    const side = pair ? sideOf(pair, c.name) : undefined;
    const content = pair && side ? sideContent(pair, side, this.#now) : img.content;
    return crypto.createHash('md5').update(content).digest('hex');
  }

  async writeImage(
    pool: string,
    namespace: string,
    image: string,
    offset: number,
    data: Uint8Array,
  ): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw AppError.invalid('offset', 'must be a whole number of bytes, 0 or more');
    if (data.length === 0) throw AppError.invalid('data', 'nothing to write');
    const c = await this.#step();
    const spec = imageSpec(pool, namespace, image);
    const img = imageOf(c, pool, namespace, image);
    this.#writable(c, img, spec);
    const digest = crypto.createHash('sha256').update(data).digest('hex');
    const pair = pairOf(this.#sim, img);
    const side = pair ? sideOf(pair, c.name) : undefined;
    if (pair && side) {
      side.content = hash(side.content, offset, digest);
      side.pendingBytes += data.length;
    } else img.content = hash(img.content, offset, digest);
  }

  #writable(c: SimCluster, img: SimImage, spec: string): void {
    const pair = pairOf(this.#sim, img);
    const side = pair ? sideOf(pair, c.name) : undefined;
    if (side && !side.primary) {
      throw new AppError(
        'CONFLICT',
        `${spec} is read-only here (it is not primary) (rbd: (30) Read-only file system)`,
        { details: { retryable: true } },
      );
    }
  }

  // ---------------------------------------------------------------- daemons and refresh

  async listMirrorDaemons(): Promise<MirrorDaemon[]> {
    const c = await this.#step(2);
    return daemonsOf(c, this.#now);
  }

  async refreshStatus(pools?: string[]): Promise<CephMirrorSnapshot> {
    const { value, calls } = await countCliCalls(() => this.#refreshStatus(pools));
    return { ...value, cliCalls: calls };
  }

  async #refreshStatus(pools?: string[]): Promise<Omit<CephMirrorSnapshot, 'cliCalls'>> {
    const c = await this.#step(pools ? 2 : 3);
    const names = pools ?? [...c.pools.keys()];
    const out: PoolMirrorState[] = [];
    for (const name of names) {
      const p = poolOf(c, name);
      this.#count(2);
      for (const [ns, v] of [...p.namespaces.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        this.#count(v.mode === 'disabled' ? 1 : 2);
        const statuses = v.mode === 'disabled' ? [] : imageStatuses(this.#sim, c, name, ns, this.#now);
        out.push({
          pool: name,
          namespace: ns,
          mode: v.mode,
          siteName: p.mode === 'disabled' ? null : c.siteName,
          peers: p.peers.map((x) => ({ ...x })),
          summary: v.mode === 'disabled' ? null : summary(statuses),
          images: imageList(this.#sim, c, name, ns, this.#now),
        });
      }
    }
    return {
      fetchedAt: new Date(this.#now).toISOString(),
      pools: out,
      daemons: daemonsOf(c, this.#now),
    };
  }
}
