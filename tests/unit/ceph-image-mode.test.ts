import { describe, expect, it } from 'vitest';
import { imageModeLabel } from '@/components/ceph/image-mode';

describe('the Mode column of an image', () => {
  it('is the mirroring mode the status reveals', () => {
    expect(imageModeLabel({ mode: 'snapshot' }, 'image').text).toBe('snapshot');
    expect(imageModeLabel({ mode: 'journal' }, 'pool').text).toBe('journal');
  });

  it('is "off" only for an image without mirroring', () => {
    expect(imageModeLabel(null, 'image').text).toBe('off');
    expect(imageModeLabel(null, 'disabled').text).toBe('off');
  });

  it('a mirrored image whose status does not reveal the mode (no peer replays it yet) is never "off"', () => {
    // e.g. Ceph 16.2's status of an unpaired primary: "down+unknown", "status not found".
    const unknown = imageModeLabel({ mode: null }, 'image');
    expect(unknown.text).toBe('enabled');
    expect(unknown.title).toMatch(/journal or snapshot/);
    // In a pool in pool mode, mirrored images are journal-based.
    expect(imageModeLabel({ mode: null }, 'pool').text).toBe('journal');
  });
});
