/**
 * What the labs and the tests do to images and Tandem itself never does: create an image, write
 * into it, and read its checksum to compare both sides of a mirror. Both Ceph adapters provide it;
 * the production interface (CephAdapter) does not, so no domain code can reach it.
 */
export interface CephLabImages {
  createImage(
    pool: string,
    namespace: string,
    name: string,
    sizeBytes: number,
    features?: string[],
  ): Promise<void>;
  /** md5 of the image's content (reads the whole image). */
  imageChecksum(pool: string, namespace: string, image: string): Promise<string>;
  /** Writes `data` at `offset` (bytes) into an existing image. */
  writeImage(pool: string, namespace: string, image: string, offset: number, data: Uint8Array): Promise<void>;
}

/** The lab helpers of an adapter that has them (both Ceph adapters do; a test's stand-in may not). */
export function labImages<A extends object>(a: A): A & CephLabImages {
  const has = (['createImage', 'imageChecksum', 'writeImage'] as const).every(
    (m) => typeof (a as Partial<Record<string, unknown>>)[m] === 'function',
  );
  if (!has) throw new Error('this Ceph adapter has no lab helpers (createImage, writeImage, imageChecksum)');
  return a as A & CephLabImages;
}
