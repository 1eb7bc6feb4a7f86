import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject } from 'rxjs';
import { AppConfig } from '../../src/config/app-config';
import { HypervisorEvent, VmState } from '../../src/hypervisor/hypervisor-driver';
import { HypervisorError } from '../../src/hypervisor/hypervisor.errors';
import { HypervisorService } from '../../src/hypervisor/hypervisor.service';
import { VmChangeRecorder } from '../../src/vms/events/vm-change-recorder';
import { VmStateCauses } from '../../src/vms/events/vm-state-causes';
import { VmLocks } from '../../src/vms/vm-locks';
import { VmStateService } from '../../src/vms/vm-state.service';
import { NodesService } from '../../src/nodes/nodes.service';
import { VmsRepository } from '../../src/vms/vms.repository';
import { VmsService } from '../../src/vms/vms.service';
import { rejectionOf } from '../support/api-error';
import { CallLog, strictFake } from '../support/strict-fake';

const VMID = '6f1c1d2e-0000-4000-8000-000000000001';

/**
 * VmStateService without an app: a fake hypervisor holding one VM, a fake recorder that
 * logs what would be written. Each test names every dependency member the service may use.
 */
function world(options: { state?: VmState; known?: boolean; fail?: Partial<Record<'start' | 'stop' | 'pause' | 'requestStop', Error>>; gracefulStopSeconds?: number } = {}) {
  const log = new CallLog();
  const events = new Subject<HypervisorEvent>();
  let state: VmState = options.state ?? 'STOPPED';
  let known = options.known ?? true;
  const setState = (next: VmState) => {
    state = next;
    events.next({ type: 'state', vmId: VMID, state: next });
  };
  const operation = (name: 'start' | 'stop' | 'pause' | 'resume' | 'requestStop', to: VmState | undefined) =>
    log.track(name, async (vmid: string) => {
      assert.equal(vmid, VMID);
      const failure = options.fail?.[name as 'start'];
      if (failure) throw failure;
      if (to) setState(to);
    });
  const hypervisor = strictFake<HypervisorService>('hypervisor', {
    events$: events.asObservable(),
    knows: () => known,
    state: () => state,
    stateIfDefined: () => (known ? state : undefined),
    start: operation('start', 'RUNNING'),
    resume: operation('resume', 'RUNNING'),
    pause: operation('pause', 'PAUSED'),
    stop: operation('stop', 'STOPPED'),
    // A guest that ignores the ACPI request: the VM stays STOPPING.
    requestStop: operation('requestStop', 'STOPPING'),
  });
  const vms = strictFake<VmsService>('vms', {
    get: log.track('get', async () => ({}) as never),
    defineInDriver: log.track('defineInDriver', async () => {
      known = true;
    }),
  });
  const repository = strictFake<VmsRepository>('repository', {});
  // A VM of this node (the single-host case); the check against another node's VM is tested in the cluster.
  const nodes = strictFake<NodesService>('nodes', { assertRunsHereNow: async () => undefined });
  const config = strictFake<AppConfig>('config', { gracefulStopSeconds: options.gracefulStopSeconds ?? 30 });
  // What the recorder writes and publishes is tested through the app (test/vms/events/).
  const recorder = strictFake<VmChangeRecorder>('recorder', { record: log.track('record', async () => undefined) });
  const service = new VmStateService(hypervisor, new VmLocks(), vms, repository, new VmStateCauses(hypervisor), recorder, nodes, config);
  return { service, log, setState };
}


describe('VmStateService (fakes, no app)', () => {
  it('runs the planned driver action and records the state it ends in', async () => {
    const { service, log } = world({ state: 'STOPPED' });
    assert.deepEqual(await service.request(VMID, 'RUNNING', false), { status: 200, state: 'RUNNING' });
    assert.deepEqual(log.calls, [`start(${VMID})`, `record({"vmid":"${VMID}","state":"RUNNING","cause":"request"})`]);
  });

  it('answers 208 for the state the VM is in, touching nothing', async () => {
    const { service, log } = world({ state: 'PAUSED' });
    assert.deepEqual(await service.request(VMID, 'PAUSED', false), { status: 208, state: 'PAUSED' });
    assert.deepEqual(log.calls, []);
  });

  it('refuses a state the current one does not lead to with the seed 403 and its fields', async () => {
    const { service, log } = world({ state: 'STOPPED' });
    const error = await rejectionOf(service.request(VMID, 'PAUSED', false));
    assert.equal(error.status, 403);
    assert.deepEqual({ code: error.code, ...error.extras }, { code: 'STATE_CHANGE_NOT_ALLOWED', vmid: VMID, req_state: 'PAUSED', cur_state: 'STOPPED' });
    assert.deepEqual(log.calls, []);
  });

  it('a driver failure is a 500 with the true state, recorded as the last error', async () => {
    const { service, log } = world({ state: 'STOPPED', fail: { start: new HypervisorError('HYPERVISOR_ERROR', 'no firmware') } });
    const error = await rejectionOf(service.request(VMID, 'RUNNING', false));
    assert.deepEqual([error.status, error.code, error.message, error.extras], [500, 'HYPERVISOR_FAILURE', 'The hypervisor failed to start the VM: no firmware', { vmid: VMID, state: 'STOPPED' }]);
    assert.deepEqual(log.calls, [`start(${VMID})`, `record({"vmid":"${VMID}","state":"STOPPED","lastError":"no firmware","cause":"request"})`]);
  });

  it('a driver that finds the VM in another state than planned answers the 403, records nothing', async () => {
    const { service, log } = world({ state: 'RUNNING', fail: { pause: new HypervisorError('INVALID_STATE', 'busy') } });
    const error = await rejectionOf(service.request(VMID, 'PAUSED', false));
    assert.deepEqual([error.code, error.extras.cur_state], ['STATE_CHANGE_NOT_ALLOWED', 'RUNNING']);
    assert.deepEqual(log.calls, [`pause(${VMID})`]);
  });

  it('what the driver cannot do on this host is a 422', async () => {
    const { service } = world({ state: 'STOPPED', fail: { start: new HypervisorError('UNSUPPORTED', 'no nested virtualization') } });
    const error = await rejectionOf(service.request(VMID, 'RUNNING', false));
    assert.deepEqual([error.status, error.code], [422, 'UNSUPPORTED_ON_HOST']);
  });

  it('a VM the driver could not define at start is defined before its first state change', async () => {
    const { service, log } = world({ state: 'STOPPED', known: false });
    await service.request(VMID, 'RUNNING', false);
    assert.deepEqual(log.calls.slice(0, 3), [`get(${VMID})`, 'defineInDriver({})', `start(${VMID})`]);
  });

  it('a graceful stop the guest ignores answers STOPPING after the bound; force then stops it', async () => {
    const { service, log } = world({ state: 'RUNNING', gracefulStopSeconds: 0 });
    assert.deepEqual(await service.request(VMID, 'STOPPED', false), { status: 200, state: 'STOPPING' });
    assert.equal((await rejectionOf(service.request(VMID, 'STOPPED', false))).code, 'STATE_CHANGE_NOT_ALLOWED');
    assert.deepEqual(await service.request(VMID, 'STOPPED', true), { status: 200, state: 'STOPPED' });
    assert.deepEqual(log.calls.filter((c) => !c.startsWith('record')), [`requestStop(${VMID})`, `stop(${VMID})`]);
  });

  it('a graceful stop returns as soon as the guest has stopped', async () => {
    const { service, setState } = world({ state: 'RUNNING', gracefulStopSeconds: 30 });
    const answer = service.request(VMID, 'STOPPED', false);
    setTimeout(() => setState('STOPPED'), 20);
    assert.deepEqual(await answer, { status: 200, state: 'STOPPED' });
  });

  it('serializes the requests for one VM', async () => {
    const { service } = world({ state: 'STOPPED' });
    const [first, second] = await Promise.all([service.request(VMID, 'RUNNING', false), service.request(VMID, 'RUNNING', false)]);
    assert.deepEqual([first.status, second.status], [200, 208]);
  });
});
