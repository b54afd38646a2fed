import { createHash } from 'node:crypto';
import type { DiskIds } from './customize.js';

/**
 * Filesystem ids fixed per class: the image's own fstab names them, and rebuilding a class gives
 * the same ids (cards of one class share them, as vendor images do; node identity lives elsewhere).
 */
export function classDiskIds(className: string): DiskIds {
  const h = createHash('sha256').update(`metis-image:${className}`).digest('hex');
  const u = h.slice(8, 40);
  const rootUuid = `${u.slice(0, 8)}-${u.slice(8, 12)}-4${u.slice(13, 16)}-a${u.slice(17, 20)}-${u.slice(20, 32)}`;
  return { rootUuid, bootSerial: h.slice(0, 8) };
}
