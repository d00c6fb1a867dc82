// Small statistics and table helpers for the benchmark scripts and the load generator (one copy each).

/** The q-quantile (0..1) by the nearest-rank method; NaN for an empty list. */
export function quantile(xs: readonly number[], q: number): number {
  return quantileOfSorted(
    [...xs].sort((a, b) => a - b),
    q,
  );
}

/** quantile() of a list already sorted ascending (spares large sample sets one sort per quantile). */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** The median (mean of the two middle values for an even count); NaN for an empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Plain-text table: numbers right-aligned, the first column (and any column from `textFrom` on) left-aligned. */
export function table(rows: readonly (readonly string[])[], textFrom = Number.POSITIVE_INFINITY): string {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const left = (c: number) => c === 0 || c >= textFrom;
  return rows
    .map((r) =>
      r
        .map((cell, c) => (left(c) ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Markdown table (first row is the header). */
export function markdownTable(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  if (!head) return "";
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...body.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

export const fmt = {
  rps: (x: number) => (Number.isNaN(x) ? "-" : x >= 100 ? x.toFixed(0) : x.toFixed(1)),
  ms: (x: number) => (Number.isNaN(x) ? "-" : x < 10 ? x.toFixed(2) : x.toFixed(1)),
  ratio: (x: number) => (Number.isNaN(x) ? "-" : `${x.toFixed(2)}×`),
};
