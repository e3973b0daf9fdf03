// A WebSocket that reconnects: exponential backoff with full jitter, an
// application-level ping (browsers cannot send WebSocket pings), and a
// watchdog that drops a connection on which nothing arrives.

/** The close code of a socket the client drops to resync. */
const CLIENT_RESYNC = 4990;

export type ConnState = "connecting" | "open" | "waiting";

export interface ConnHandlers {
  open(): void;
  message(msg: any): void;
  /**
   * The socket closed; returning false stops reconnecting for good. reason
   * is the server's ("" when the client closed it or the network dropped).
   */
  close(code: number, reason: string): boolean;
  state(s: ConnState, retryAt?: number): void;
}

export interface ConnOptions {
  baseDelay?: number; // ms, first retry delay
  maxDelay?: number; // ms
  pingEvery?: number; // ms
  deadAfter?: number; // ms a ping may wait for any message before the socket counts as dead
  random?: () => number;
  now?: () => number; // ms, Date.now
}

export class Connection {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: number | undefined;
  private pinger: number | undefined;
  private lastHeard = 0;
  // When the oldest ping not yet followed by any message was sent (0: none).
  private pingSentAt = 0;
  private stopped = false;
  private o: Required<ConnOptions>;

  constructor(private url: string, private h: ConnHandlers, opts: ConnOptions = {}) {
    this.o = { baseDelay: 300, maxDelay: 10000, pingEvery: 15000, deadAfter: 40000, random: Math.random, now: () => Date.now(), ...opts };
  }

  start(): void {
    this.stopped = false;
    if (!this.ws) this.dial();
  }

  /**
   * Closes the socket now and stops reconnecting until start(): the close
   * handler runs at once, not when the close handshake ends, because the
   * page may be on its way out (pagehide) and never get that far.
   */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abandon(1000, "bye");
  }

  /** The current socket was good (welcome received): reset the backoff. */
  healthy(): void {
    this.attempt = 0;
  }

  /** Reconnects now (after going back online) unless already connected. */
  retryNow(): void {
    if (this.ws || this.stopped) return;
    clearTimeout(this.timer);
    this.dial();
  }

  /**
   * Closes the socket; the usual reconnect follows. Its code is the
   * client's own, not one of the server's (4000 means stop, say).
   */
  drop(): void {
    this.abandon(CLIENT_RESYNC, "client resync");
  }

  send(msg: object): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** The delay before retry number n (0-based): full jitter over an exponential cap. */
  delay(n: number): number {
    const cap = Math.min(this.o.maxDelay, this.o.baseDelay * 2 ** n);
    return cap / 2 + this.o.random() * (cap / 2);
  }

  private dial(): void {
    this.h.state("connecting");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, "folio.v1");
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastHeard = this.o.now();
      this.pingSentAt = 0;
      this.h.state("open");
      this.h.open();
      this.pinger = setInterval(() => this.ping(), this.o.pingEvery) as unknown as number;
    };
    ws.onmessage = (ev) => {
      this.lastHeard = this.o.now();
      let msg: any;
      try { msg = JSON.parse(ev.data as string); } catch { return; }
      this.h.message(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.closed(ev.code, ev.reason);
    };
  }

  private closed(code: number, reason: string): void {
    this.ws = null;
    clearInterval(this.pinger);
    if (!this.h.close(code, reason)) this.stopped = true;
    if (!this.stopped) this.scheduleRetry();
  }

  // abandon forgets the socket at once: a close handshake on a dead network
  // can take a long time, and the client must go on (offline) meanwhile.
  private abandon(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.closed(code, "");
    ws.close(code, reason);
  }

  // ping runs every pingEvery, or much less often: a browser runs the
  // timers of a page hidden for a while once a minute (Chrome; Safari every
  // 40 s), and an idle document sends nothing but pongs. So the socket is
  // dead only when a ping has waited deadAfter with nothing heard since it
  // was sent, not when nothing was heard for deadAfter: that would drop a
  // healthy hidden page every minute, and the others would see its user
  // leave and come back.
  private ping(): void {
    const now = this.o.now();
    if (this.pingSentAt > 0 && this.lastHeard < this.pingSentAt) {
      if (now - this.pingSentAt > this.o.deadAfter) this.abandon(4001, "no answer");
      return;
    }
    this.pingSentAt = now;
    this.send({ type: "ping" });
  }

  private scheduleRetry(): void {
    const d = this.delay(this.attempt++);
    this.h.state("waiting", Date.now() + d);
    this.timer = setTimeout(() => this.dial(), d) as unknown as number;
  }
}
