'use strict';
// Time and latency for the load generator: a wall clock comparable across its processes, and
// a mergeable histogram of latencies.
const { performance } = require('perf_hooks');

const epochNow = () => performance.timeOrigin + performance.now(); // ms, comparable across processes

// latency histogram: log buckets of 1%, from 1 µs to 1000 s, mergeable across workers

const HK = 1 / Math.log(1.01);
const HN = Math.ceil(Math.log(1e9) * HK) + 2;

class Hist {
  constructor() {
    this.b = new Uint32Array(HN);
    this.n = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
  }
  add(us) {
    const i = us < 1 ? 0 : Math.min(HN - 1, 1 + Math.floor(Math.log(us) * HK));
    this.b[i]++;
    this.n++;
    this.sum += us;
    if (us < this.min) this.min = us;
    if (us > this.max) this.max = us;
  }
  toJSON() {
    const sparse = [];
    for (let i = 0; i < HN; i++) if (this.b[i]) sparse.push(i, this.b[i]);
    return { sparse, n: this.n, sum: this.sum, min: this.min, max: this.max };
  }
  merge(j) {
    for (let k = 0; k < j.sparse.length; k += 2) this.b[j.sparse[k]] += j.sparse[k + 1];
    this.n += j.n;
    this.sum += j.sum;
    if (j.n && j.min < this.min) this.min = j.min;
    if (j.max > this.max) this.max = j.max;
  }
  pct(p) {
    // value in µs under which a fraction p of the samples fall (bucket middle, clamped)
    if (!this.n) return null;
    const target = Math.max(1, Math.ceil(p * this.n));
    let acc = 0;
    for (let i = 0; i < HN; i++) {
      acc += this.b[i];
      if (acc >= target) {
        const mid = i === 0 ? 0.5 : Math.exp((i - 0.5) / HK);
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }
  summary(prefix) {
    const ms = (v) => (v === null ? null : Math.round(v) / 1000);
    return {
      [`${prefix}p50_ms`]: ms(this.pct(0.5)),
      [`${prefix}p90_ms`]: ms(this.pct(0.9)),
      [`${prefix}p99_ms`]: ms(this.pct(0.99)),
      [`${prefix}max_ms`]: ms(this.n ? this.max : null),
      [`${prefix}mean_ms`]: ms(this.n ? this.sum / this.n : null),
    };
  }
}

module.exports = { epochNow, Hist };
