/** Display formatting of the API's figures (no figure is computed here). */
export type Interval = { estimate: number | null; lower: number | null; upper: number | null };

const nf = (d: number) =>
  new Intl.NumberFormat("en-US", { maximumFractionDigits: d, minimumFractionDigits: 0, signDisplay: "negative" });

export function num(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "–" : nf(digits).format(x);
}

export function money(x: number | null | undefined): string {
  return x === null || x === undefined
    ? "–"
    : new Intl.NumberFormat("en-US", {
        maximumFractionDigits: 2,
        minimumFractionDigits: 2,
        signDisplay: "negative",
      }).format(x);
}

export function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "–" : `${nf(digits).format(x * 100)} %`;
}

/** "12.3 % [10.1 %, 14.2 %]" or "2.10 [1.90, 2.30]". */
export function interval(e: Interval | null | undefined, as: "pct" | "num" | "money" = "num"): string {
  if (!e || e.estimate === null) return "–";
  const f = as === "pct" ? (x: number) => pct(x) : as === "money" ? money : (x: number) => num(x);
  return e.lower !== null && e.upper !== null ? `${f(e.estimate)} [${f(e.lower)}, ${f(e.upper)}]` : f(e.estimate);
}
