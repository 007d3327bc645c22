import { describe, expect, it } from "vitest";
import { slope, troughSlope } from "../../bench/lib";

/** One sample a second for `seconds`, valued by `at(t)`. */
function series(seconds: number, at: (t: number) => number): { ts: number[]; ys: number[] } {
  const ts = Array.from({ length: seconds }, (_, i) => i + 1);
  return { ts, ys: ts.map(at) };
}

describe("troughSlope: whether a backlog drained in batches grows", () => {
  // Bursts every 25 s that the drain takes back to 1 within 4 s, as the shipper's queue behind checkpoints.
  const sawtooth = (t: number) => (t % 25 < 4 ? 7 - (t % 25) : 1);

  it("a sawtooth that ends in a burst does not grow, though the slope over its last half says it does", () => {
    const { ts, ys } = series(52, sawtooth);
    expect(ys.slice(-3)).toEqual([7, 6, 5]);
    const half = Math.floor(ts.length / 2);
    expect(slope(ts.slice(half), ys.slice(half))).toBeGreaterThan(0.05);
    expect(troughSlope(ts, ys, 10)).toBe(0);
  });

  it("a sawtooth whose troughs rise by a segment every 10 s grows", () => {
    const { ts, ys } = series(60, (t) => sawtooth(t) + Math.floor(t / 10));
    expect(troughSlope(ts, ys, 10)).toBeCloseTo(0.1, 5);
  });

  it("a last window under half full does not count; fewer than three windows, or none, is no slope", () => {
    // from t = 61 on, the backlog stays at 20: the window [61, 71) counts once it spans 5 s of samples
    const rising = (seconds: number) => series(seconds, (t) => (t > 60 ? 20 : 1));
    const short = rising(64);
    expect(troughSlope(short.ts, short.ys, 10)).toBe(0);
    const long = rising(66);
    expect(troughSlope(long.ts, long.ys, 10)).toBeGreaterThan(0.05);
    const twoWindows = series(20, () => 1);
    expect(troughSlope(twoWindows.ts, twoWindows.ys, 10)).toBeNull();
    const threeWindows = series(26, () => 1);
    expect(troughSlope(threeWindows.ts, threeWindows.ys, 10)).toBe(0);
    expect(troughSlope([], [], 10)).toBeNull();
  });
});
