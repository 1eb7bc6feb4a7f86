import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/common/errors/api-error';
import type { HostCapabilities } from '../../src/hypervisor/hypervisor-driver';
import { assessNodes, PlacementCandidate, pickNode } from '../../src/nodes/node-placement';

const linux = { driver: 'qemu', vm_types: ['EFI', 'KBOOT'] } as HostCapabilities;
const mac = { driver: 'vz', vm_types: ['EFI', 'MAC'] } as HostCapabilities;

function node(name: string, memoryMb: number, options: { online?: boolean; cpus?: number; capabilities?: HostCapabilities } = {}): PlacementCandidate {
  return { name, online: options.online ?? true, capabilities: options.capabilities ?? linux, free: { cpus: options.cpus ?? 4, memoryMb } };
}

/** Refuses hosts that do not run `type` VMs, as checkAgainstHost does. */
function runs(type: string) {
  return (caps: HostCapabilities) => {
    if (!caps.vm_types.includes(type as never)) throw new ApiError('UNSUPPORTED_ON_HOST', `${type} VMs are not available on ${caps.driver}`);
  };
}

function errorOf(fn: () => unknown): ApiError | undefined {
  try {
    fn();
  } catch (error) {
    return error as ApiError;
  }
  return undefined;
}

function codeOf(fn: () => unknown): string | undefined {
  return errorOf(fn)?.code;
}

describe('placement (pure)', () => {
  it('without images: the online node with the most free memory, then CPUs, then by name', () => {
    const nodes = [node('a', 1000), node('b', 4000, { online: false }), node('c', 2000, { cpus: 1 }), node('d', 2000, { cpus: 8 }), node('e', 2000, { cpus: 8 })];
    assert.equal(pickNode(assessNodes(nodes, { fits: runs('EFI') }), []).name, 'd');
  });

  it('free memory below zero (overcommit) still places, on the least loaded node', () => {
    assert.equal(pickNode(assessNodes([node('a', -500), node('b', -100)], { fits: runs('EFI') }), []).name, 'b');
  });

  it('skips nodes whose host refuses the definition; when all do, the best one\'s reason', () => {
    const nodes = [node('linux', 9000), node('mac', 1000, { capabilities: mac })];
    assert.equal(pickNode(assessNodes(nodes, { fits: runs('MAC') }), []).name, 'mac');
    assert.equal(codeOf(() => assessNodes([node('linux', 9000)], { fits: runs('MAC') })), 'UNSUPPORTED_ON_HOST');
  });

  it('the VM goes where its images are; images on two nodes, or on an offline one, are refused', () => {
    const nodes = [node('a', 1000), node('b', 9000), node('c', 9000, { online: false })];
    const assessed = assessNodes(nodes, { fits: runs('EFI') });
    assert.equal(pickNode(assessed, [{ stid: 's1', node: 'a' }, { stid: 's2', node: 'a' }]).name, 'a');
    assert.equal(codeOf(() => pickNode(assessed, [{ stid: 's1', node: 'a' }, { stid: 's2', node: 'b' }])), 'STORAGE_NOT_ON_NODE');
    assert.equal(codeOf(() => pickNode(assessed, [{ stid: 's1', node: 'c' }])), 'NODE_OFFLINE');
  });

  it('a node given must exist, be online, take the definition and hold the images', () => {
    const nodes = [node('a', 1000), node('b', 9000, { online: false }), node('mac', 10, { capabilities: mac })];
    const fits = runs('EFI');
    assert.equal(pickNode(assessNodes(nodes, { node: 'a', fits }), [{ stid: 's', node: 'a' }], 'a').name, 'a');
    assert.equal(codeOf(() => assessNodes(nodes, { node: 'zz', fits })), 'NODE_NOT_FOUND');
    assert.equal(codeOf(() => assessNodes(nodes, { node: 'b', fits })), 'NODE_OFFLINE');
    assert.equal(codeOf(() => assessNodes(nodes, { node: 'a', fits: runs('MAC') })), 'UNSUPPORTED_ON_HOST');
    const error = errorOf(() => pickNode(assessNodes(nodes, { node: 'mac', fits }), [{ stid: 's', node: 'a' }], 'mac'));
    assert.deepEqual([error?.code, error?.extras], ['STORAGE_NOT_ON_NODE', { stid: 's', node: 'a' }]);
  });
});
