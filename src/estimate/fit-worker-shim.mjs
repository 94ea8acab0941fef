// Worker entry of the fit pool when running from TypeScript source: Node 20 worker threads do not
// inherit the tsx loader of the main thread, so register it here, then load the real worker.
import { tsImport } from 'tsx/esm/api';

const mod = await tsImport('./fit-worker.ts', import.meta.url);
export default mod.default;
