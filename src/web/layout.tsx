/** @jsxImportSource hono/jsx */
/** Page frame and form pieces of the dashboard (server-rendered with hono/jsx; every input labelled). */
import { raw } from "hono/html";
import type { Child } from "hono/jsx";

export function Layout(p: { title: string; signedIn: boolean; csrf?: string; children: Child; flash?: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${p.title} · adbandit`}</title>
        <link rel="stylesheet" href="/assets/app.css" />
        <link rel="icon" href="data:," />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            adbandit
          </a>
          {p.signedIn && (
            <nav aria-label="Main">
              <a href="/campaigns">Campaigns</a>
              <a href="/anomalies">Anomalies</a>
              <a href="/simulations">Simulations</a>
              <a href="/docs">API docs</a>
              <form method="post" action="/logout" class="inline">
                <input type="hidden" name="_csrf" value={p.csrf ?? ""} />
                <button type="submit" class="link">
                  Sign out
                </button>
              </form>
            </nav>
          )}
        </header>
        <main id="main" tabindex={-1}>
          {p.flash && (
            <p class="flash" role="status">
              {p.flash}
            </p>
          )}
          {p.children}
        </main>
        <script src="/assets/chart.umd.min.js"></script>
        <script src="/assets/app.js"></script>
      </body>
    </html>
  );
}

/** A labelled input with the API's message for it shown beside it (aria-describedby). */
export function Field(p: {
  name: string;
  label: string;
  value?: string;
  error?: string;
  type?: string;
  required?: boolean;
  hint?: string;
  children?: Child;
  textarea?: boolean;
  rows?: number;
}) {
  const id = `f-${p.name.replace(/[^a-z0-9]+/gi, "-")}`;
  const describedBy = [p.hint ? `${id}-hint` : "", p.error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class={`field${p.error ? " has-error" : ""}`}>
      <label for={id}>{p.label}</label>
      {p.children ? (
        <select id={id} name={p.name} aria-describedby={describedBy} aria-invalid={p.error ? "true" : undefined}>
          {p.children}
        </select>
      ) : p.textarea ? (
        <textarea
          id={id}
          name={p.name}
          rows={p.rows ?? 4}
          required={p.required}
          aria-describedby={describedBy}
          aria-invalid={p.error ? "true" : undefined}
        >
          {p.value ?? ""}
        </textarea>
      ) : (
        <input
          id={id}
          name={p.name}
          type={p.type ?? "text"}
          value={p.value ?? ""}
          required={p.required}
          aria-describedby={describedBy}
          aria-invalid={p.error ? "true" : undefined}
        />
      )}
      {p.hint && (
        <small id={`${id}-hint`} class="hint">
          {p.hint}
        </small>
      )}
      {p.error && (
        <small id={`${id}-error`} class="error" role="alert">
          {p.error}
        </small>
      )}
    </div>
  );
}

export function Csrf(p: { token: string }) {
  return <input type="hidden" name="_csrf" value={p.token} />;
}

/** A one-button form that POSTs to `action` (pause, resume, archive, …). */
export function ActionButton(p: {
  action: string;
  csrf: string;
  label: string;
  fields?: Record<string, string>;
  danger?: boolean;
}) {
  return (
    <form method="post" action={p.action} class="inline">
      <Csrf token={p.csrf} />
      {Object.entries(p.fields ?? {}).map(([k, v]) => (
        <input type="hidden" name={k} value={v} />
      ))}
      <button type="submit" class={p.danger ? "danger" : ""}>
        {p.label}
      </button>
    </form>
  );
}

/** Chart data for app.js: a <canvas> and the JSON it draws. */
export function Chart(p: { id: string; label: string; spec: unknown; height?: number }) {
  return (
    <figure class="chart" style={`height:${p.height ?? 280}px`}>
      <canvas id={p.id} role="img" aria-label={p.label} data-chart={p.id}></canvas>
      <script type="application/json" id={`${p.id}-data`}>
        {raw(JSON.stringify(p.spec).replace(/</g, "\\u003c"))}
      </script>
    </figure>
  );
}

/** A table head; a label starting with "#" is a numeric (right-aligned) column. */
export function Head(p: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {p.cols.map((c) =>
          c.startsWith("#") ? (
            <th scope="col" class="n">
              {c.slice(1)}
            </th>
          ) : (
            <th scope="col">{c}</th>
          ),
        )}
      </tr>
    </thead>
  );
}
