import { MetisError } from '../lib/errors.js';

/** Wrong arguments: exit 2 (src/burner/commands/exit-codes.ts). */
export class UsageError extends MetisError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** No confirmation: declined, or no terminal and no --yes (exit 5). */
export class NotConfirmedError extends MetisError {
  constructor(message: string) {
    super('E_NOT_CONFIRMED', message);
  }
}
