import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshPostgresDatabase, TestDatabase } from './postgres';
import { ServerProcess } from './server-process';

export const CLUSTER_ROOT_PASSWORD = 'cluster-root-password';
/** The nodes' heartbeat, short so that a dead node is seen in seconds. */
export const CLUSTER_HEARTBEAT_SECONDS = 1;

/** Velocity nodes (`node dist/src/main.js`, sim driver) on one fresh PostgreSQL database, each with its own data directory. */
export class ClusterNodes {
  private constructor(
    readonly database: TestDatabase,
    readonly nodes: ServerProcess[],
    private readonly dirs: string[],
  ) {}

  /** Starts the named nodes one at a time (the first creates the schema), with `env` added to each. */
  static async start(names: string[], env: Record<string, string> = {}): Promise<ClusterNodes> {
    const database = await freshPostgresDatabase();
    const cluster = new ClusterNodes(database, [], []);
    for (const name of names) {
      const dir = mkdtempSync(join(tmpdir(), `velocity-node-${name}-`));
      cluster.dirs.push(dir);
      cluster.nodes.push(
        await ServerProcess.start(dir, {
          VELOCITY_DATABASE_URL: database.url,
          VELOCITY_NODE_NAME: name,
          VELOCITY_NODE_HEARTBEAT: String(CLUSTER_HEARTBEAT_SECONDS),
          VELOCITY_ADMIN_PASSWORD: CLUSTER_ROOT_PASSWORD,
          ...env,
        }),
      );
    }
    return cluster;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop('SIGTERM')));
    await this.database.drop();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}
