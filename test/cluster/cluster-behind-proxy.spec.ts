import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NginxProxy } from '../support/nginx-proxy';
import { CLUSTER_ROOT_PASSWORD, ClusterNodes } from '../support/cluster-nodes';
import { ServerProcess } from '../support/server-process';
import { openWebSocket } from '../support/websocket-client';

/**
 * The README's cluster deployment: deploy/nginx-cluster.conf.example in front of three nodes
 * on one PostgreSQL database, under /velocity. Requests land on whichever node nginx picks
 * and are answered the same; a node killed with SIGKILL is skipped.
 */

describe('a cluster behind nginx (deploy/nginx-cluster.conf.example)', { timeout: 120_000 }, () => {
  let cluster: ClusterNodes;
  let nodes: ServerProcess[];
  let nginx: NginxProxy;
  let root: string;

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { authorization: `Bearer ${root}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${nginx.url}/velocity${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json().catch(() => ({})) };
  }

  before(async () => {
    cluster = await ClusterNodes.start(['a', 'b', 'c'], { VELOCITY_BASE_PATH: '/velocity', VELOCITY_TRUST_PROXY: '127.0.0.1' });
    nodes = cluster.nodes;
    nginx = await NginxProxy.start(
      nodes.map((node) => node.port),
      'nginx-cluster.conf.example',
    );
    const login = await fetch(`${nginx.url}/velocity/u/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'root', password: CLUSTER_ROOT_PASSWORD }),
    });
    root = ((await login.json()) as { authkey: string }).authkey;
  });

  after(async () => {
    nginx?.stop();
    await cluster?.stop();
  });

  it('VMs on every node are created, started and read through the one address, whichever node answers', async () => {
    const gid = (await call('PUT', '/u/group', { groupname: 'proxied' })).body.gid;
    const cid = (await call('PUT', '/c', { group: gid, label: 'proxied' })).body.cid;
    const vmids: string[] = [];
    for (const node of ['a', 'b', 'c']) {
      const created = await call('PUT', '/v/efi', { catalog: cid, name: `on-${node}`, cpu_count: 1, memory_size_mb: 256, node });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      vmids.push(created.body.vmid);
    }
    for (const vmid of vmids) {
      const started = await call('POST', '/v/state', { vmid, state: 'RUNNING' });
      assert.equal(started.status, 200, JSON.stringify(started.body));
    }
    // Many reads, spread by nginx over the three nodes: each answers for every VM.
    for (let i = 0; i < 12; i++) {
      const vmid = vmids[i % 3];
      const state = await call('GET', `/v/state?vmid=${vmid}`);
      assert.deepEqual([state.status, state.body.state], [200, 'RUNNING']);
    }
    const socket = await openWebSocket(`${nginx.url.replace('http', 'ws')}/velocity/v/console/stream?vmid=${vmids[1]}`, { authorization: `Bearer ${root}` });
    socket.close();
  });

  it('a node killed with SIGKILL is skipped: reads still answer, and its VMs say so', async () => {
    await nodes[2].stop('SIGKILL');
    const list = await call('GET', '/v/list?limit=10&cid=' + (await call('GET', '/c/list')).body.catalogs[0].cid);
    assert.equal(list.status, 200);
    for (let i = 0; i < 9; i++) assert.equal((await call('GET', '/nodes')).status, 200);
    // Once the others have missed its heartbeats, its VM is reported offline, not guessed.
    const onC = list.body.vms.find((vm: { node: string }) => vm.node === 'c');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const reply = await call('GET', `/v/state?vmid=${onC.vmid}`);
      if (reply.status === 503) {
        assert.equal(reply.body.code, 'NODE_OFFLINE');
        break;
      }
      assert.ok(Date.now() < deadline, `still ${reply.status} ${JSON.stringify(reply.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
});
