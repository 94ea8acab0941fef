import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

describe('moelab demo', () => {
  it('ends with one claim reproduced and its verdict', async () => {
    const r = await runCli(['demo', '--n', '500']);
    expect(r.code).toBe(0);
    const tail = r.stdout.trim().split('\n').slice(-5);
    expect(tail[0]).toContain('D1(Ĝn, G*) = O_P(n^−1/2)');
    expect(tail[1]).toMatch(/8 sample sizes 100…12800 × 12 replicates = 96 fits in [\d.]+ s$/);
    // the 0.8-quantile slope of D1 on this seeded grid, and the rule's verdict
    const m = /of the 0\.8-quantile −(\d\.\d\d) \[−(\d\.\d\d), −(\d\.\d\d)\]/.exec(tail[2]);
    expect(m).not.toBeNull();
    const [slope, lo, hi] = m!.slice(1).map((x) => -Number(x));
    expect(lo).toBeLessThan(slope);
    expect(hi).toBeGreaterThan(slope);
    expect(slope).toBeGreaterThan(-0.8);
    expect(slope).toBeLessThan(-0.4);
    expect(tail[3]).toMatch(/^ {2}verdict: REPRODUCED/);
  }, 60_000);
});
