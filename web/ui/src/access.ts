// Access tokens in the browser (docs/security.md). A page opened with
// ?token= passes that token on: in every WebSocket `hello` (never in the
// WebSocket URL), in the export links' ?token= (a plain link cannot set a
// header) and as a Bearer header on the share request. The page only reads
// the token's claims for display; the server verifies it on every request.

/** The page's token (?token=), or "" without one. */
export function pageToken(search: string): string {
  return (new URLSearchParams(search).get("token") ?? "").trim();
}

/** path with ?token= added (path unchanged without a token). */
export function withToken(path: string, token: string): string {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

export interface Claims { doc?: string; role?: string; name?: string }

/**
 * tokenClaims decodes a JWT's payload WITHOUT verifying it: only for what
 * the page shows (the name others will see). Anything malformed gives {}.
 */
export function tokenClaims(token: string): Claims {
  const part = token.split(".")[1];
  if (!part) return {};
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    const c = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    if (typeof c !== "object" || c === null || Array.isArray(c)) return {};
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    return { doc: str(c.doc), role: str(c.role), name: str(c.name) };
  } catch {
    return {};
  }
}

/** The part of fetch that readonlyLink and createDoc use (a fake in tests). */
export type Fetch = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) =>
  Promise<{ ok: boolean; status: number; json(): Promise<any> }>;

function bearer(token: string): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// sameOriginPath accepts "/x" but not "//host/x" or "https://...": the page
// only ever links to its own server.
function sameOriginPath(u: unknown): u is string {
  return typeof u === "string" && u.startsWith("/") && !u.startsWith("//") && !u.startsWith("/\\");
}

/** A share link, and when it stops working (null: never). */
export interface ShareLink { url: string; expiresAt: Date | null }

/**
 * readonlyLink asks the server for a read-only link to document id (POST
 * {api}/docs/{id}/share; with auth on, the answer carries a view token
 * minted from ours, which expires when ours does: expiresAt) and returns it
 * as an absolute URL under root, Folio's root as this page reaches it (under
 * a reverse proxy's path prefix too): of the server's answer only the query
 * is kept. When the server refuses (403, 404: another authorizer
 * than the built-in tokens) or cannot be reached, an open server's page
 * falls back to ?readonly=1, which never expires, and a page with a token
 * returns null: its own token must not be handed out.
 */
export async function readonlyLink(fetch: Fetch, o: { api: string; id: string; token: string; root: string }):
  Promise<ShareLink | null> {
  const page = `${o.root}d/${encodeURIComponent(o.id)}`;
  const fallback = o.token ? null : { url: `${page}?readonly=1`, expiresAt: null };
  try {
    const res = await fetch(`${o.api}/docs/${encodeURIComponent(o.id)}/share`, { method: "POST", headers: bearer(o.token) });
    if (!res.ok) return fallback;
    const body = await res.json();
    if (!sameOriginPath(body?.url)) return fallback;
    const exp = typeof body.expiresAt === "string" ? new Date(body.expiresAt) : null;
    return { url: page + new URL(body.url, "http://folio.invalid").search, expiresAt: exp && !isNaN(exp.getTime()) ? exp : null };
  } catch {
    return fallback;
  }
}

/**
 * expiryText says when a share link stops working, for the share box:
 * relative and absolute, in the user's locale (locale and timeZone are for
 * tests; undefined is the user's), e.g. "Expires in 6 days (Dec 4, 2026,
 * 10:30 AM)"; "Never expires" for null.
 */
export function expiryText(expiresAt: Date | null, now: Date, locale?: string, timeZone?: string): string {
  if (!expiresAt) return "Never expires";
  const secs = (expiresAt.getTime() - now.getTime()) / 1000;
  if (secs <= 0) return "Expired";
  const rel = new Intl.RelativeTimeFormat(locale, { numeric: "always" });
  const minutes = Math.round(secs / 60), hours = Math.round(secs / 3600);
  const when = minutes < 60 ? rel.format(Math.max(1, minutes), "minute")
    : hours < 48 ? rel.format(hours, "hour") : rel.format(Math.round(secs / 86400), "day");
  const at = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(expiresAt);
  return `Expires ${when} (${at})`;
}

/** Thrown by createDoc with a message for people. */
export class CreateError extends Error {}

/**
 * createDoc creates a document (POST {api}/docs) and returns the address of
 * its editor under root (Folio's root as this page reaches it), carrying
 * the token on. A refusal becomes a message that says what to do.
 */
export async function createDoc(fetch: Fetch, api: string, root: string, token: string): Promise<string> {
  let res;
  try {
    res = await fetch(`${api}/docs`, {
      method: "POST", headers: { "Content-Type": "application/json", ...bearer(token) }, body: "{}",
    });
  } catch {
    throw new CreateError("Could not create a document: the server cannot be reached.");
  }
  if (res.status === 401 || res.status === 403) {
    throw new CreateError(token
      ? "Could not create a document: your access token does not allow creating documents."
      : "This server needs an access token to create documents. Open Folio from the application that " +
        "gives you access, or ask its administrator for a link.");
  }
  if (res.status === 429) throw new CreateError("Could not create a document: too many requests, try again in a moment.");
  if (!res.ok) throw new CreateError(`Could not create a document: the server answered ${res.status}.`);
  const body = await res.json();
  return withToken(`${root}d/${encodeURIComponent(String(body?.id ?? ""))}`, token);
}
