// Imported first by each bundle's main module, before any schema is built (zod reads the setting
// when a schema is constructed). Zod 4 compiles a parser per object schema with `new Function` on
// its first parse: that pays back over many parses of the same shape, but Metis parses each
// manifest or inventory once per run, and code made by `new Function` is compiled afresh every run
// (no code cache holds it). jitless makes zod walk the schema instead.
import { config } from 'zod';

config({ jitless: true });
