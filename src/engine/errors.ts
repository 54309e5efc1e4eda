/**
 * Domain errors of the engine and store: a code and a message, no HTTP. The API maps each code to a
 * status (src/api/errors.ts), so the engine stays usable from simulations and jobs.
 */
export type DomainCode = "invalid_request" | "not_found" | "conflict" | "unavailable";

export class DomainError extends Error {
  constructor(
    readonly code: DomainCode,
    message: string,
    readonly details?: { path: string; message: string }[],
  ) {
    super(message);
    this.name = "DomainError";
  }
}
