import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState, waitForState } from '../support/vm-fixture';

describe('server restart with running VMs (sim driver)', () => {
  it('reconciles recorded states with the driver and brings autostart VMs back', async () => {
    const first = await TestApp.start();
    const dataDir = first.config.dataDir;
    try {
      const w = await makeVmWorld(first, 'restart');
      const plain = await createEfiVm(first, w.owner.token, { name: 'plain', catalog: w.cid });
      const auto = await createEfiVm(first, w.owner.token, { name: 'auto', catalog: w.cid, autostart: true });
      const idle = await createEfiVm(first, w.owner.token, { name: 'idle', catalog: w.cid, autostart: false });
      for (const vmid of [plain, auto]) assert.equal((await setState(first, w.owner.token, vmid, 'RUNNING')).status, 200);
      const recorded = async (t: TestApp, vmid: string) => (await t.dataSource.query('SELECT state FROM vms WHERE vmid = ?', [vmid]))[0].state;
      assert.equal(await recorded(first, plain), 'RUNNING');
      // The sim library's VMs live in the server process: they die with it, as vz VMs do.
      await first.close({ keepData: true });

      const second = await TestApp.start({ dataDir });
      try {
        assert.equal(await recorded(second, plain), 'STOPPED', 'a VM that died with the server is recorded STOPPED');
        const state = await second.call({ method: 'GET', url: '/v/state', token: w.owner.token, query: { vmid: plain } });
        assert.equal(state.body.state, 'STOPPED');
        await waitForState(second, w.owner.token, auto, 'RUNNING');
        assert.equal((await second.call({ method: 'GET', url: '/v/state', token: w.owner.token, query: { vmid: idle } })).body.state, 'STOPPED');
        // And they still work.
        assert.equal((await setState(second, w.owner.token, plain, 'RUNNING')).status, 200);
        assert.equal((await setState(second, w.owner.token, auto, 'PAUSED')).status, 200);
      } finally {
        await second.close({ keepData: true });
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
