import { inventoryDir } from '../inventory/io.js';
import { loadInventory } from '../inventory/load.js';
import type { UiOptions } from './views.js';

export interface FlasherRow {
  name: string;
  ssh: string;
}

export interface FlashersView {
  code: number;
  data?: FlasherRow[];
  error?: string;
}

/**
 * The inventory's flashing hosts (cluster.yaml `flashers:`), read afresh on every call: the Card
 * step lists them, and a host the page names is passed on to `metis … --host` only when it is one
 * of these names (the page never hands a typed ssh target to the CLI).
 */
export async function flashersView(o: UiOptions): Promise<FlashersView> {
  try {
    const inv = await loadInventory(inventoryDir(o.inventory));
    const rows = Object.entries(inv.cluster.def.flashers ?? {}).map(([name, f]) => ({ name, ssh: f.ssh }));
    return { code: 0, data: rows.sort((a, b) => a.name.localeCompare(b.name)) };
  } catch (e) {
    return { code: 1, error: e instanceof Error ? e.message : String(e) };
  }
}

/** The name if it is an inventory flasher, else null. Compared as a whole string, never as a pattern. */
export async function knownFlasher(o: UiOptions, name: string): Promise<string | null> {
  const v = await flashersView(o);
  return v.data?.find((f) => f.name === name)?.name ?? null;
}
