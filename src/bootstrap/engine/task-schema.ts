import { z } from 'zod';
import { taskSchema } from '../../manifest/task.js';

export { TASK_KEYS } from '../../manifest/task.js';

/**
 * A task file is a YAML list of tasks: `name`, exactly one module key (its args are checked by the
 * module's own schema after templating), optional `when`, `notify` (handler names), `tags`. The
 * same task schema validates the manifest's `tasks:` hooks (src/manifest/task.ts).
 */
export function taskListSchema(moduleNames: readonly string[]) {
  return z.array(taskSchema(moduleNames));
}

export type RawTask = z.output<ReturnType<typeof taskListSchema>>[number];
