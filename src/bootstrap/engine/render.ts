import Handlebars from 'handlebars';
import { MetisError, errorMessage } from '../../lib/errors.js';
import { helpers } from './helpers.js';
import { lookupPath } from './when.js';

/** A string that is exactly one `{{path}}` yields the raw value (number, list, object), as Ansible's native types. */
const SINGLE_PATH = /^\{\{\s*([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}$/;

export interface TemplateRenderer {
  /** Renders one string; `where` names the task/template in errors. */
  text(template: string, data: unknown, where: string): string;
  /** Renders every string inside a value (args of a task). */
  value(value: unknown, data: unknown, where: string): unknown;
}

/** One isolated handlebars environment per run: strict (a missing variable is an error), no HTML escaping. */
export function createRenderer(): TemplateRenderer {
  const hb = Handlebars.create();
  for (const [name, fn] of Object.entries(helpers)) hb.registerHelper(name, fn);
  const cache = new Map<string, HandlebarsTemplateDelegate>();

  const text = (template: string, data: unknown, where: string): string => {
    if (!template.includes('{{')) return template;
    let fn = cache.get(template);
    try {
      if (!fn) {
        fn = hb.compile(template, { strict: true, noEscape: true });
        cache.set(template, fn);
      }
      return fn(data);
    } catch (e) {
      throw new MetisError('E_RENDER', `${where}: ${errorMessage(e).split('\n')[0]}`, { cause: e });
    }
  };

  const value = (v: unknown, data: unknown, where: string): unknown => {
    if (typeof v === 'string') {
      const m = SINGLE_PATH.exec(v);
      if (m && !(m[1]! in helpers)) {
        const found = lookupPath(data, m[1]!.split('.'));
        if (found === undefined) throw new MetisError('E_RENDER', `${where}: "${m[1]}" not defined in the manifest`);
        return found;
      }
      return text(v, data, where);
    }
    if (Array.isArray(v)) return v.map((x, i) => value(x, data, `${where}.${i}`));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, value(x, data, `${where}.${k}`)]));
    }
    return v;
  };

  return { text, value };
}
