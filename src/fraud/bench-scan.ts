/** Timing of a scan over a day of events on PostgreSQL (measure.ts --timing). */
export async function timeScan(_events: number, _seed: number): Promise<void> {
  throw new Error("--timing: not implemented yet");
}
