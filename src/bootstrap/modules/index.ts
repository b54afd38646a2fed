import type { Module } from '../types.js';
import { authorizedKeysModule } from './authorized-keys.js';
import { bootConfigModule } from './boot-config.js';
import { commandModule } from './command.js';
import { directoryModule } from './directory.js';
import { fileModule } from './file.js';
import { growrootModule } from './growroot.js';
import { hostnameModule } from './hostname.js';
import { identityModule } from './identity.js';
import { iscsiModule } from './iscsi.js';
import { journaldModule } from './journald.js';
import { k3sJoinModule } from './k3s-join.js';
import { k3sMountsModule } from './k3s-mounts.js';
import { k3sNodeModule } from './k3s-node.js';
import { k3sModule } from './k3s.js';
import { mountModule } from './mount.js';
import { networkModule } from './network.js';
import { scrubSecretsModule } from './scrub-secrets.js';
import { serviceModule } from './service.js';
import { sshdModule } from './sshd.js';
import { templateModule } from './template.js';
import { userModule } from './user.js';

/** Every module a task file may name, by its task key. One explicit map: add new modules here. */
export const modules: Readonly<Record<string, Module>> = {
  file: fileModule,
  template: templateModule,
  directory: directoryModule,
  command: commandModule,
  boot_config: bootConfigModule,
  hostname: hostnameModule,
  service: serviceModule,
  journald: journaldModule,
  sshd: sshdModule,
  authorized_keys: authorizedKeysModule,
  user: userModule,
  identity: identityModule,
  growroot: growrootModule,
  mount: mountModule,
  iscsi: iscsiModule,
  network: networkModule,
  scrub_secrets: scrubSecretsModule,
  k3s: k3sModule,
  k3s_join: k3sJoinModule,
  k3s_mounts: k3sMountsModule,
  k3s_node: k3sNodeModule,
};
