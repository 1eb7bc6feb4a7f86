import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EntityManager } from 'typeorm';
import { UnitOfWork } from '../../src/database/unit-of-work';
import { HostCapabilities } from '../../src/hypervisor/hypervisor-driver';
import { HypervisorError } from '../../src/hypervisor/hypervisor.errors';
import { HypervisorService } from '../../src/hypervisor/hypervisor.service';
import { AuthenticatedUser } from '../../src/identity/auth/authenticated-user';
import { GroupQuotasService } from '../../src/quotas/group-quotas.service';
import { NicEntity } from '../../src/resources/entities/nic.entity';
import { StorageEntity } from '../../src/resources/entities/storage.entity';
import { NicsService } from '../../src/resources/nics.service';
import { StorageService } from '../../src/resources/storage.service';
import { VmConfigBuilder } from '../../src/vms/vm-config.builder';
import { VmDefinition } from '../../src/vms/vm-definition';
import { VmFiles } from '../../src/vms/vm-files';
import { VmEvents } from '../../src/vms/events/vm-events.service';
import { VmStateCauses } from '../../src/vms/events/vm-state-causes';
import { VmLocks } from '../../src/vms/vm-locks';
import { AttachmentRows, NicAttachmentRow, StorageAttachmentRow, VmRecord, VmsRepository } from '../../src/vms/vms.repository';
import { NodesService } from '../../src/nodes/nodes.service';
import { ImageLocations, PlacementDemand } from '../../src/nodes/node-placement';
import { VmsService } from '../../src/vms/vms.service';
import { rejectionOf } from '../support/api-error';
import { CallLog, strictFake } from '../support/strict-fake';

/**
 * VmsService's rules without an app: which resources a definition may link (visible ones,
 * or ones the VM already had), what is checked before anything is written, and what is
 * written. The repository, the resource services and the driver are typed fakes.
 */

const CALLER = new AuthenticatedUser('u1', 'alice', [{ gid: 'g1', groupname: 'alice', special: null }]);
const CID = 'c1';
const CATALOG = { cid: CID, gid: 'g1' };
const caps: HostCapabilities = {
  driver: 'sim',
  max_cpu_count: 8,
  max_memory_mb: 16384,
  min_memory_mb: 64,
  max_display_width: 3840,
  max_display_height: 2160,
  bridge_interfaces: [],
  rosetta: false,
  macos_guests: false,
  screenshots: true,
  vm_types: ['EFI', 'KBOOT'],
};
const image = (stid: string, readOnly = false, template = false) => ({ stid, readOnly, template }) as StorageEntity;
const nic = (nicid: string) => ({ nicid }) as NicEntity;

function definition(overrides: Partial<VmDefinition> = {}): VmDefinition {
  return { name: 'web', type: 'EFI', cpu_count: 1, memory_size_mb: 512, displays: [], storage_devices: [], nics: [], rosetta: false, autostart: false, port_forwards: [], ...overrides };
}

interface Setup {
  visibleStorage?: StorageEntity[];
  usableNics?: NicEntity[];
  nameHolder?: string | null;
  writableHolder?: string | null;
  driverRefuses?: HypervisorError;
  /** The stored VM, for changes. */
  current?: VmRecord;
}

function world(setup: Setup = {}) {
  const log = new CallLog();
  const written: { storage?: StorageAttachmentRow[]; nics?: NicAttachmentRow[] } = {};
  const manager = {} as EntityManager;
  const record = { vm: { vmid: 'new' } } as VmRecord;
  const repository = strictFake<VmsRepository>('repository', {
    nameHolder: log.track('nameHolder', async () => setup.nameHolder ?? null),
    writableHolder: log.track('writableHolder', async () => setup.writableHolder ?? null),
    // As SQLite does: a name the catalog holds fails on the unique index.
    insert: log.track('insert', async (_m: EntityManager, _vmid: string, _cid: string, _d: VmDefinition, attachments: AttachmentRows) => {
      if (setup.nameHolder) throw new Error('SQLITE_CONSTRAINT: UNIQUE constraint failed: vms.cid, vms.name');
      Object.assign(written, attachments);
    }),
    update: log.track('update', async (_m: EntityManager, _vmid: string, _cid: string, _d: VmDefinition, attachments: AttachmentRows) => {
      Object.assign(written, attachments);
    }),
    load: async () => setup.current ?? record,
    portForwardHolder: log.track('portForwardHolder', async () => null),
  });
  const storage = strictFake<StorageService>('storage', {
    // The real rule lives in StorageService; here only what was asked for comes back, and
    // only when visible or kept — so the test fails if the service forgets to pass `kept`.
    findVisible: log.track('findVisible', async (_caller: AuthenticatedUser, stids: string[], kept?: ReadonlySet<string>) => {
      const found = (setup.visibleStorage ?? []).filter((s) => stids.includes(s.stid) && (s.stid !== 'someone-elses' || kept?.has(s.stid)));
      return new Map(found.map((s) => [s.stid, s]));
    }),
  });
  const nics = strictFake<NicsService>('nics', {
    findUsable: log.track('findUsable', async (_caller: AuthenticatedUser, nicids: string[]) => {
      return new Map((setup.usableNics ?? []).filter((n) => nicids.includes(n.nicid)).map((n) => [n.nicid, n]));
    }),
  });
  const hypervisor = strictFake<HypervisorService>('hypervisor', {
    capabilities: caps,
    knows: () => setup.current !== undefined,
    stateIfDefined: () => (setup.current ? 'STOPPED' : undefined),
    destroy: log.track('driver.destroy', async () => undefined),
    create: log.track('driver.create', async () => {
      if (setup.driverRefuses) throw setup.driverRefuses;
    }),
  });
  const unitOfWork = strictFake<UnitOfWork>('unitOfWork', { run: <T>(work: (m: EntityManager) => Promise<T>) => work(manager) });
  const files = strictFake<VmFiles>('files', { prepare: async () => undefined, remove: log.track('files.remove', async () => undefined) });
  const builder = strictFake<VmConfigBuilder>('configBuilder', { build: () => ({}) as never });
  // The event log has tests of its own (test/vms/events/); here it only has to be there.
  const events = strictFake<VmEvents>('events', { publish: () => undefined });
  // Quotas have tests of their own (test/quotas/); here the check only has to come before the writes.
  const quotas = strictFake<GroupQuotasService>('quotas', { assertRoom: log.track('quotas.check', async () => undefined) });
  // Placement has tests of its own (test/nodes/); here there is one node, this one.
  const nodes = strictFake<NodesService>('nodes', {
    place: async (demand: PlacementDemand, images: () => Promise<ImageLocations>) => {
      demand.fits(caps);
      await images();
      return { name: 'local', local: true };
    },
    placementOf: (node: string | null) => ({ node: node ?? 'local', online: true }),
    holderOf: (node: string | null) => node ?? 'local',
    isLocal: () => true,
    assertRunsHere: () => undefined,
  });
  const service = new VmsService(repository, unitOfWork, hypervisor, storage, nics, builder, files, new VmLocks(), events, new VmStateCauses(hypervisor), quotas, nodes);
  return { service, log, written };
}


describe('VmsService (fakes, no app)', () => {
  it('creates a VM from visible resources: disks writable unless read-only or a template, kernel by role, a MAC per NIC', async () => {
    const visibleStorage = [image('disk'), image('iso', true), image('golden', false, true), image('kernel', true)];
    const { service, log, written } = world({ visibleStorage, usableNics: [nic('nat')] });
    await service.create(CALLER, CATALOG, definition({ type: 'KBOOT', kernel: 'kernel', storage_devices: ['disk', 'iso', 'golden'], nics: ['nat'] }));
    assert.deepEqual(written.storage, [
      { stid: 'disk', role: 'disk', writable: true },
      { stid: 'iso', role: 'disk', writable: false },
      { stid: 'golden', role: 'disk', writable: false },
      { stid: 'kernel', role: 'kernel', writable: false },
    ]);
    assert.deepEqual(
      log.calls.filter((c) => c.startsWith('writableHolder(')).map((c) => /, (\w+)/.exec(c)?.[1]),
      ['disk'],
      'only a disk attached writable is checked for another holder',
    );
    assert.equal(written.nics?.length, 1);
    assert.match(written.nics![0].mac, /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/, 'a locally administered unicast MAC');
    // The group's quota checked, then written, then defined in the driver, inside the one transaction.
    const writes = log.calls.map((c) => c.split('(')[0]).filter((c) => ['quotas.check', 'insert', 'driver.create'].includes(c));
    assert.deepEqual(writes, ['quotas.check', 'insert', 'driver.create']);
    assert.ok(log.calls.includes(`quotas.check({}, ${CATALOG.gid}, {"vms":1,"vcpus":1,"memory":512})`), log.calls.join('\n'));
  });

  it('a change may keep what the VM already attaches even if the caller cannot see it, keeps its MACs, and counts only its growth against the quota', async () => {
    const current = {
      vm: { vmid: 'vm1', cid: CID, name: 'web', type: 'EFI', cpuCount: 1, memorySizeMb: 512, displays: [], rosetta: false, autostart: false, cmdline: null, simOptions: null },
      storage: [{ stid: 'someone-elses', role: 'disk', writable: true, storage: image('someone-elses') }],
      nics: [{ nicid: 'nat', mac: '02:00:00:00:00:01', nic: nic('nat') }],
      portForwards: [],
    } as unknown as VmRecord;
    const { service, written, log } = world({ visibleStorage: [image('someone-elses')], usableNics: [nic('nat')], current });
    await service.update(CALLER, 'vm1', CATALOG.gid, { cpu_count: 2 });
    assert.ok(log.calls.includes(`quotas.check({}, ${CATALOG.gid}, {"vcpus":1,"memory":0})`), 'the quota check counts what the change adds');
    assert.deepEqual(written.storage, [{ stid: 'someone-elses', role: 'disk', writable: true }]);
    assert.deepEqual(written.nics, [{ nicid: 'nat', mac: '02:00:00:00:00:01' }]);
  });

  it('a storage id the caller cannot see is a 404 naming it, and nothing is written', async () => {
    const { service, log } = world({ visibleStorage: [image('mine')] });
    const error = await rejectionOf(service.create(CALLER, CATALOG, definition({ storage_devices: ['mine', 'theirs'] })));
    assert.deepEqual([error.status, error.code, error.extras], [404, 'RESOURCE_NOT_FOUND', { type: 'storage', rid: 'theirs' }]);
    assert.ok(!log.calls.some((c) => c.startsWith('insert')));
  });

  it('a NIC the caller may not use is a 404 naming it', async () => {
    const { service } = world({ usableNics: [nic('nat')] });
    const error = await rejectionOf(service.create(CALLER, CATALOG, definition({ nics: ['nat', 'bridge0'] })));
    assert.deepEqual([error.code, error.extras], ['RESOURCE_NOT_FOUND', { type: 'nic', rid: 'bridge0' }]);
  });

  it('host limits are checked before any resource is looked up', async () => {
    const { service, log } = world();
    const error = await rejectionOf(service.create(CALLER, CATALOG, definition({ cpu_count: 9 })));
    assert.equal(error.code, 'HOST_LIMIT_EXCEEDED');
    assert.deepEqual(log.calls, []);
  });

  it('a taken name, a writable disk held elsewhere, a disk listed twice: 409, 409, 400', async () => {
    const taken = await rejectionOf(world({ nameHolder: 'other' }).service.create(CALLER, CATALOG, definition()));
    assert.deepEqual([taken.code, taken.extras], ['VM_NAME_TAKEN', { vmid: 'other' }]);
    const held = await rejectionOf(world({ visibleStorage: [image('disk')], writableHolder: 'other' }).service.create(CALLER, CATALOG, definition({ storage_devices: ['disk'] })));
    assert.deepEqual([held.code, held.extras], ['STORAGE_IN_USE', { vmid: 'other' }]);
    const twice = await rejectionOf(world({ visibleStorage: [image('disk', true)] }).service.create(CALLER, CATALOG, definition({ storage_devices: ['disk', 'disk'] })));
    assert.equal(twice.code, 'VALIDATION_FAILED');
  });

  it('a definition the driver refuses is a 422 and leaves no files behind', async () => {
    const { service, log } = world({ driverRefuses: new HypervisorError('INVALID_CONFIG', 'the disk image is missing') });
    const error = await rejectionOf(service.create(CALLER, CATALOG, definition()));
    assert.deepEqual([error.status, error.code, error.message], [422, 'INVALID_VM_CONFIG', 'the disk image is missing']);
    assert.ok(log.calls.some((c) => c.startsWith('files.remove(')));
  });
});
