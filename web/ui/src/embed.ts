// Where the embedded editor may post its events: pure functions, so that
// node tests can run them without a DOM.

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
