/**
 * The dashboard's only way to data: the service's own HTTP API, called in-process with the session's key
 * (`app.request`), so every figure, validation message and permission is the API's — no second implementation.
 */
export interface ApiReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: an API answer, shaped by the API's own schemas
  body: any;
  text: string;
  contentType: string;
}

export interface RequestApp {
  request(input: string | Request, init?: RequestInit): Response | Promise<Response>;
}

export class Api {
  constructor(
    private readonly app: RequestApp,
    private readonly key: string,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<ApiReply> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await this.app.request(`http://dashboard.internal${path}`, {
      method,
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const contentType = res.headers.get("content-type") ?? "";
    let parsed: unknown;
    if (contentType.includes("json") && text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    return { status: res.status, body: parsed, text, contentType };
  }

  get(path: string) {
    return this.call("GET", path);
  }
  post(path: string, body?: unknown) {
    return this.call("POST", path, body ?? {});
  }
  patch(path: string, body: unknown) {
    return this.call("PATCH", path, body);
  }
}

/** Field errors of an API 400 answer, by path ("name", "arms.0.key", …), plus the message. */
export function fieldErrors(r: ApiReply): { message: string; byField: Record<string, string> } {
  const e = r.body?.error;
  const byField: Record<string, string> = {};
  for (const d of (e?.details ?? []) as { path: string; message: string }[]) byField[d.path] ??= d.message;
  return { message: e?.message ?? `the API answered ${r.status}`, byField };
}
