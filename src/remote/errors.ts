import { MetisError } from '../lib/errors.js';

/** The flashing host lacks something a burn needs (node ≥ 18, sudo, …), or refused sudo. Nothing was written. */
export class HostError extends MetisError {
  constructor(code: 'E_HOST_NODE' | 'E_HOST_SUDO' | 'E_HOST_PROTOCOL' | 'E_HOST_BUNDLE' | 'E_HOST_SEND', host: string, message: string) {
    super(code, `${host}: ${message}`, { path: host });
  }
}

/** A failure the burn agent reported from the flashing host, with the exit code it computed there. */
export class RemoteAgentError extends MetisError {
  constructor(code: string, host: string, message: string, readonly exitCode: number) {
    super(code, `on ${host}: ${message}`, { path: host });
  }
}
