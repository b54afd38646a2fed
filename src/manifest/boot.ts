import { z } from 'zod';
import * as f from './fields.js';

/**
 * The Pi's boot partition (docs/pi-boot.md): managed lines in config.txt, per conditional filter
 * section, and managed words of cmdline.txt.
 */

/** One `key=value` line of config.txt; the key may carry an HDMI port (`hdmi_mode:1`). */
export const configLine = z
  .string()
  .regex(/^[a-z][a-z0-9_]*(:\d)?=/, 'must be a config.txt line key=value, like dtoverlay=rpi-poe-plus')
  .regex(f.NO_CONTROL, 'must not contain control characters (newline, tab, ...)')
  .refine((l) => !l.trimEnd().endsWith('\\') && l === l.trim(), 'must not start or end with blanks or a backslash');

/** A conditional filter, without brackets: all, pi4, pi5, cm4, none, tryboot, gpio4=1, 0x12345678… */
export const configSection = z.string().regex(/^[A-Za-z0-9_:=.+-]{1,64}$/, 'must be a config.txt filter without brackets, like all or pi4');

/**
 * What a line is, for replacing one by another (a node's line over its class's) and refusing a
 * duplicate: dtoverlay lines are repeatable, each its own; a dtparam is named by its parameter; any
 * other key is set once per section (the firmware keeps the last value of a key).
 */
export function lineIdentity(line: string): string {
  const eq = line.indexOf('=');
  const key = line.slice(0, eq);
  const value = line.slice(eq + 1);
  if (key === 'dtoverlay') return line;
  if (key === 'dtparam') return `dtparam ${value.split('=')[0]}`;
  return key;
}

/** A kernel command line word: one word, never root= (the image build sets it; a wrong one does not boot). */
export const cmdlineWord = f.word.min(1, 'must be a word like cgroup_memory=1').refine((w) => wordKey(w) !== 'root', 'root= is set by the image build (docs/image-build.md): not managed here');

/** `key` of `key=value`, or the whole word when it has no "=" (quiet, rootwait). */
export function wordKey(w: string): string {
  const eq = w.indexOf('=');
  return eq < 0 ? w : w.slice(0, eq);
}

/** A remove entry matches the exact word, or, without "=", every word of that key (`console` removes console=… ). */
export function removes(entry: string, word: string): boolean {
  return entry === word || (!entry.includes('=') && wordKey(word) === entry);
}

/** Lines per filter section, in order (a dtparam after its dtoverlay applies to that overlay). */
export const bootConfigLines = z.record(z.string(), z.array(configLine)).superRefine((v, ctx) => {
  for (const k of Object.keys(v)) {
    const r = configSection.safeParse(k);
    if (!r.success) ctx.addIssue({ code: 'custom', path: [k], message: r.error.issues[0]!.message });
  }
});

export const cmdlineSchema = z.strictObject({
  /** Words that must be on the line (appended when missing). */
  add: z.array(cmdlineWord).default([]),
  /** Words that must not be: exact, or every word of a bare key. */
  remove: z.array(cmdlineWord).default([]),
});

export const bootSchema = z
  .strictObject({
    /** Where the FAT boot partition is mounted on the node (the class's image.bootPath). */
    path: f.absPath.default('/boot/firmware'),
    config: bootConfigLines.default({}),
    cmdline: cmdlineSchema.default({ add: [], remove: [] }),
  })
  .superRefine((b, ctx) => {
    for (const [section, lines] of Object.entries(b.config)) {
      const seen = new Map<string, number>();
      lines.forEach((l, i) => {
        const id = lineIdentity(l);
        const prev = seen.get(id);
        if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['config', section, i], message: `sets ${id} again (also config.${section}.${prev}): one value per key and section` });
        seen.set(id, i);
      });
    }
    b.cmdline.add.forEach((w, i) => {
      const r = b.cmdline.remove.findIndex((e) => removes(e, w));
      if (r >= 0) ctx.addIssue({ code: 'custom', path: ['cmdline', 'add', i], message: `also removed by cmdline.remove.${r}: keep one` });
    });
  });

export type BootConfig = z.output<typeof bootSchema>;
