// Kernel-to-JavaScript delivery latency of ring records, kept as counts in fixed log-spaced
// buckets: bounded memory, no allocation per sample, and percentiles good to one bucket.

/** Buckets per decade: each bucket is 10^(1/10) ≈ 1.26 times as wide as the one before. */
const PER_DECADE = 10;
/** Bucket 0 holds < 1 µs; bucket k ≥ 1 holds [10^((k-1)/10), 10^(k/10)) µs; the last one everything from 100 s up. */
const BUCKETS = 1 + 8 * PER_DECADE + 1;

/** Upper edge (exclusive) of bucket `k`, in microseconds. */
export function bucketUpperUs(k: number): number {
  return k >= BUCKETS - 1 ? Infinity : 10 ** (k / PER_DECADE);
}

export function bucketOf(us: number): number {
  // A record stamped after the batch clock was read (clock skew between CPUs is not one) or a
  // NaN counts as the fastest bucket rather than being lost.
  if (!(us >= 1)) return 0;
  return Math.min(BUCKETS - 1, 1 + Math.floor(PER_DECADE * Math.log10(us)));
}

export interface LatencySummary {
  samples: number;
  /** Upper edges of the buckets holding the percentile: a slight overestimate, never under. */
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /** Samples at or above 1 ms: the target is p99 < 1 ms. */
  over1Ms: number;
}

/** What the delivery-latency histogram measures, for /metrics and OTLP. */
export const DELIVERY_LATENCY_HELP = 'Kernel-to-JavaScript delivery latency of ring records: from the record\'s kernel timestamp to the sensor decoding its batch.';

/** Cumulative counts for a Prometheus-style histogram, in seconds. */
export interface HistogramSnapshot {
  /** Upper edges (seconds) with the count of samples below each, ascending; +Inf is `count`. */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

/**
 * The edges exposed, as bucket indices k (edge 10^(k/10) µs): about 1, 2 and 5 per decade from
 * 10 µs to 1 s, a scrape-sized subset of the fine buckets' edges, so that each count is exact.
 * 10^(3/10) and 10^(7/10) are 1.995 and 5.012, printed as they are.
 */
export const EXPOSED_EDGES: readonly number[] = [10, 13, 17, 20, 23, 27, 30, 33, 37, 40, 43, 47, 50, 53, 57, 60];

export class LatencyHistogram {
  // Float64: exact counts up to 2^53, where a Uint32Array would wrap after days at load.
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private max = 0;
  private sumUs = 0;

  recordUs(us: number): void {
    this.counts[bucketOf(us)]! += 1;
    this.total++;
    if (us > this.max) this.max = us;
    if (us > 0) this.sumUs += us;
  }

  /** Cumulative counts at the EXPOSED_EDGES, for /metrics. */
  snapshot(): HistogramSnapshot {
    const buckets: { le: number; count: number }[] = [];
    let below = 0;
    let k = 0;
    for (const edge of EXPOSED_EDGES) {
      // Buckets 0..edge hold everything below bucketUpperUs(edge).
      for (; k <= edge; k++) below += this.counts[k]!;
      buckets.push({ le: bucketUpperUs(edge) / 1e6, count: below });
    }
    return { buckets, sum: this.sumUs / 1e6, count: this.total };
  }

  /** Smallest bucket edge with at least q of the samples below it; 0 with no samples. */
  quantileUs(q: number): number {
    if (this.total === 0) return 0;
    const want = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let k = 0; k < BUCKETS; k++) {
      seen += this.counts[k]!;
      if (seen >= want) return Math.min(bucketUpperUs(k), this.max);
    }
    return this.max;
  }

  /** Samples of `us` microseconds or more, exact when `us` is a bucket edge (10^(k/10)). */
  atLeastUs(us: number): number {
    let n = 0;
    for (let k = bucketOf(us); k < BUCKETS; k++) n += this.counts[k]!;
    return n;
  }

  summary(): LatencySummary {
    return {
      samples: this.total,
      p50Us: Math.round(this.quantileUs(0.5)),
      p99Us: Math.round(this.quantileUs(0.99)),
      maxUs: Math.round(this.max),
      over1Ms: this.atLeastUs(1000),
    };
  }
}
