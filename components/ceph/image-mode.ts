/**
 * What the Mode column of an image says. Ceph 16.2's pool status does not carry an image's
 * mirroring mode: Tandem infers it from the replay details, which exist only once a peer replays
 * the image (an unpaired primary reports "down+unknown, status not found"). A mirrored image whose
 * mode is not known is "enabled", never "off"; in a pool in pool mode it is journal-based.
 */
export function imageModeLabel(
  mirroring: { mode: 'journal' | 'snapshot' | null } | null,
  poolMode: string,
): { text: string; title?: string } {
  if (!mirroring) return { text: 'off', title: 'mirroring is not enabled for this image' };
  if (mirroring.mode) return { text: mirroring.mode };
  if (poolMode === 'pool')
    return { text: 'journal', title: 'in pool mode, mirrored images are journal-based' };
  return {
    text: 'enabled',
    title:
      'mirroring is enabled; whether journal or snapshot based shows once a peer replays the image (the image details say it now)',
  };
}
