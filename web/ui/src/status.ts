// What the status pill says: pure functions of a Status, so that node tests
// can run them without a DOM.

export type StatusState = "connecting" | "connected" | "reconnecting" | "offline" | "saved" | "closed";
export interface Status {
  state: StatusState;
  unsynced: number;
  /** The page may not edit (readonly=1 or a view token); state stays that of the connection. */
  readonly?: boolean;
  /** Why a closed page stopped, or why the server closed the connection that is being retried. */
  reason?: string;
  notice?: string;
  /**
   * A closed page's links (share, export) are dead too: its access was
   * refused or expired, or the document is gone.
   */
  linksDead?: boolean;
}

/** statusText is the visible status line. */
export function statusText(s: Status): string {
  if (s.state === "closed") return stateText(s);
  let text = stateText(s);
  if (s.reason) text += ` · ${s.reason}`;
  return s.notice ? `${text} · ${s.notice}` : text;
}

function stateText(s: Status): string {
  const n = s.unsynced === 1 ? "1 unsynced edit" : `${s.unsynced} unsynced edits`;
  // A read-only page has nothing to save: "Saved" would suggest it could
  // edit. Connection trouble still shows.
  if (s.readonly) {
    switch (s.state) {
      case "saved": case "connected": return "Read-only";
      case "reconnecting": return "Read-only · Reconnecting…";
      case "offline": return "Read-only · Offline";
    }
  }
  switch (s.state) {
    case "saved": return "Saved";
    case "connected": return `Connected · ${n}`;
    case "connecting": return "Connecting…";
    case "reconnecting": return s.unsynced ? `Reconnecting · ${n}` : "Reconnecting…";
    case "offline": return `Offline · ${n}`;
    // Whatever is unsynced now never will be: say so, the text is still there to copy.
    case "closed": return `Closed · ${s.reason ?? "disconnected"}` +
      (s.unsynced ? ` · ${s.unsynced === 1 ? "1 edit" : `${s.unsynced} edits`} not saved` : "");
  }
}

const down = (s: Status) => s.state === "offline" || s.state === "reconnecting";
const up = (s: Status) => s.state === "saved" || s.state === "connected";

/**
 * RETRY_HINT ends the announcement of a lost connection: the Retry now
 * button appears with it (folio.ts's showRetry) and stays until the page is
 * back, and a screen reader user would not otherwise know it is there. It
 * is said once, not with each retry or each new reason.
 */
export const RETRY_HINT = "Retry now button available";

/**
 * announcement is what to tell a screen reader when the status goes from
 * prev to s, or "" for nothing. The status flips between unsynced and saved
 * about twice per keystroke: announcing that would talk over the typing.
 * Only what the user must know is said: the connection lost (not each
 * retry) and that Retry now is there, the server's reason for refusing it,
 * the connection back, the page closed, an edit undone.
 */
export function announcement(prev: Status | undefined, s: Status): string {
  if (!prev) return "";
  if (s.state === "closed") return prev.state !== "closed" || prev.reason !== s.reason ? statusText(s) : "";
  if (s.notice && s.notice !== prev.notice) return statusText(s);
  if (down(s) && !down(prev)) return `${statusText(s)} · ${RETRY_HINT}`;
  if (down(s) && s.reason && s.reason !== prev.reason) return statusText(s);
  if (up(s) && down(prev)) return `Back online · ${statusText(s)}`;
  return "";
}
