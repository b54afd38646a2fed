import type { ServerResponse } from 'node:http';

export interface UiEvent {
  type: string;
  [k: string]: unknown;
}

/**
 * The one Server-Sent Events stream: device hot-plug and job progress. A page that connects late
 * (or reconnects) gets the latest devices and every event of the jobs still remembered.
 */
export class EventHub {
  private clients = new Set<ServerResponse>();
  private seq = 0;
  private snapshot = new Map<string, UiEvent & { seq: number }>();
  private journal: Array<UiEvent & { seq: number }> = [];

  constructor(private readonly onClients: (n: number) => void = () => {}) {}

  get size(): number {
    return this.clients.size;
  }

  attach(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    for (const e of [...this.snapshot.values(), ...this.journal].sort((a, b) => a.seq - b.seq)) res.write(frame(e));
    this.clients.add(res);
    res.on('close', () => {
      this.clients.delete(res);
      this.onClients(this.clients.size);
    });
    this.onClients(this.clients.size);
  }

  /** `key`: the latest event under a key replaces the previous one for late joiners (device lists). */
  send(e: UiEvent, key?: string): void {
    const ev = { ...e, seq: ++this.seq };
    if (key) this.snapshot.set(key, ev);
    else {
      this.journal.push(ev);
      if (this.journal.length > 5000) this.journal.splice(0, this.journal.length - 5000);
    }
    const f = frame(ev);
    for (const c of this.clients) c.write(f);
  }

  /** Forget a finished job's events (a newer job of the same kind replaces it). */
  forget(pred: (e: UiEvent) => boolean): void {
    this.journal = this.journal.filter((e) => !pred(e));
  }

  ping(): void {
    for (const c of this.clients) c.write(': ping\n\n');
  }

  close(): void {
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function frame(e: UiEvent & { seq: number }): string {
  return `id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`;
}
