/** Gives a demo cluster's pool `rbd` N mirrored images (`bench-<i>`); see server/adapters/demo/images.ts. */
export { addMirroredImages } from '../../server/adapters/demo/images';
