/** Standard input for the `-` file name (CLI data and model files, study configs). */
import { readSync } from 'node:fs';

/**
 * All of standard input, synchronously. `readFileSync(0)` fails with EAGAIN when stdin is a pipe in
 * non-blocking mode (`a | moelab … --model - | b`), so read in chunks and wait briefly on EAGAIN.
 */
export function readStdinSync(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let got: number;
    try {
      got = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 2);
        continue;
      }
      if (code === 'EOF') break;
      throw e;
    }
    if (got === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, got)));
  }
  return Buffer.concat(chunks).toString('utf8');
}
