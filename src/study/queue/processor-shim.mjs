// BullMQ sandbox entry when running from TypeScript source: Node 20 worker threads do not inherit the
// tsx loader of the main thread, so register it here (tsx/esm/api), then load the real processor.
import { tsImport } from 'tsx/esm/api';

const mod = await tsImport('./processor.ts', import.meta.url);
export default mod.default;
