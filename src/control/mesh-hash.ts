// The content hash of a served mesh lives with the stores (store/mesh-hash.ts), which report it too.
export { meshHash } from '../store/mesh-hash';
