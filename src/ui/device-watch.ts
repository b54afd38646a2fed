import type { Io } from '../inventory/io.js';
import type { EventHub } from './event-hub.js';
import { capture, parseJsonOutput, type RunMetis } from './line-io.js';

const LOCAL_EVERY_MS = 1000;
/** A flashing host is asked over SSH: less often. */
const HOST_EVERY_MS = 2500;

/**
 * Hot-plug without udev: `metis devices --json` (one lsblk) every second while a page is open, and
 * an event only when the answer changes. A card inserted or pulled shows up within about a second.
 * `watch(host)` switches to `metis devices --host=H --json` (a flashing host), the command the CLI runs.
 */
export class DeviceWatch {
  private pages = 0;
  private looping = false;
  private stopped = false;
  private last = '';
  private host: string | null = null;
  private wake: (() => void) | null = null;

  /** `hostArgs`: appended to a flashing host's `metis devices` (the page's --inventory, so its names resolve). */
  constructor(private readonly run: RunMetis, private readonly parent: Io, private readonly hub: EventHub, private readonly hostArgs: string[] = []) {}

  /** Called with the number of open pages: poll only while someone looks. */
  clients(n: number): void {
    this.pages = n;
    if (n > 0 && !this.looping && !this.stopped) void this.loop();
  }

  watch(host: string | null): void {
    this.host = host;
    this.last = '';
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (this.pages > 0 && !this.stopped) {
        const host = this.host;
        await this.poll(host);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, host ? HOST_EVERY_MS : LOCAL_EVERY_MS);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = null;
      }
    } finally {
      this.looping = false;
    }
  }

  private async poll(host: string | null): Promise<void> {
    const argv = host ? ['devices', `--host=${host}`, '--json', ...this.hostArgs] : ['devices', '--json'];
    const r = await capture(this.run, this.parent, argv);
    const devices = r.code === 0 ? parseJsonOutput(r.out) : undefined;
    const ev = Array.isArray(devices) ? { type: 'devices', host, devices } : { type: 'devices', host, devices: [], error: r.err || `metis devices exited ${r.code}`, code: r.code };
    const key = JSON.stringify(ev);
    if (key !== this.last && host === this.host) {
      this.last = key;
      this.hub.send(ev, 'devices');
    }
  }
}
