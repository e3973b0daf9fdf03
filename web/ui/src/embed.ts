// Where the embedded editor may post its events, and what it says in
// them: pure functions, so that node tests can run them without a DOM.

/** Presence is what folio:presence says (docs/embed.md). */
export interface Presence {
  /** The participants, this one included: while stale, as last seen. */
  count: number;
  /**
   * The editor is offline: count is the number last seen, and the others
   * may have left or been joined by more since. The next folio:presence
   * without it, once the editor is back, has the current number.
   */
  stale?: true;
}

/**
 * presenceUpdate is the folio:presence to post when the participants are
 * count people (stale: as last seen, offline) after prev was posted, or
 * null when the parent already knows: not each time someone moves or types.
 * The field is added only when true, so a parent written before it sees the
 * same count as ever.
 */
export function presenceUpdate(prev: Presence | undefined, count: number, stale: boolean): Presence | null {
  if (prev && prev.count === count && (prev.stale === true) === stale) return null;
  return stale ? { count, stale: true } : { count };
}

/**
 * postTargets turns the allowed embed origins into postMessage targets. A
 * pattern with a wildcard ("https://*.example.com", valid in CSP) cannot be
 * a target: parent, the parent page's origin as far as the frame can tell,
 * is used when it matches one. A wrong guess costs nothing: the browser
 * delivers a message only when its target is the parent's actual origin.
 */
export function postTargets(allowed: string[], parent: string | undefined): string[] {
  if (allowed.includes("*")) return ["*"];
  const exact = allowed.filter((o) => !o.includes("*"));
  const patterns = allowed.filter((o) => o.includes("*"));
  if (parent && patterns.some((p) => wildcardMatch(p, parent))) exact.push(parent);
  return exact;
}

/**
 * parentOrigin is the embedding page's origin: location.ancestorOrigins[0]
 * where the browser has it (Chromium, Safari), else the origin of
 * document.referrer (Firefox; under the default referrer policy a
 * cross-origin frame's referrer is the parent's origin). Undefined when
 * neither says.
 */
export function parentOrigin(ancestorOrigins: ArrayLike<string> | undefined, referrer: string): string | undefined {
  if (ancestorOrigins && ancestorOrigins.length > 0) return ancestorOrigins[0];
  try {
    const o = new URL(referrer).origin;
    return o === "null" ? undefined : o;
  } catch {
    return undefined;
  }
}

function wildcardMatch(pattern: string, origin: string): boolean {
  const re = new RegExp("^" + pattern.split("*").map((x) => x.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")).join("[^/]+") + "$");
  return re.test(origin);
}
