/**
 * Reads a running gateway's metrics as a test sees them: by scraping `/metrics`.
 *
 * @module
 */

/** The value of metric `name` with exactly `labels`, from `/metrics` at `url` (0 when absent). */
export async function metric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(",");
  for (const line of text.split("\n")) {
    const match = line.match(/^(\w+)(?:\{([^}]*)\})? (\S+)$/);
    if (match?.[1] === name && (match[2] ?? "").split(",").sort().join(",") === wanted) {
      return Number(match[3]);
    }
  }
  return 0;
}
