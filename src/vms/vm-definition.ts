import type { SimOptions, VmDisplayConfig, VmType } from '../hypervisor/hypervisor-driver';

/** A VM definition as the API takes it, after validation; ids not yet resolved. */
export interface VmDefinition {
  name: string;
  type: VmType;
  cpu_count: number;
  memory_size_mb: number;
  displays: Array<VmDisplayConfig & { description?: string }>;
  storage_devices: string[];
  nics: string[];
  rosetta: boolean;
  autostart: boolean;
  kernel?: string | null;
  initrd?: string | null;
  cmdline?: string | null;
  restore_image?: string | null;
  sim?: SimOptions | null;
}
