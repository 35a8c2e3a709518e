/**
 * A local Redis Cluster of `masters` nodes (no replicas) on free loopback ports, for tests that
 * must prove the system works on Cluster (hash-tagged keys, per-slot scripts and pipelines).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningService } from './postgres';
import { execFileAsync, sleep } from './process';
import { startRedis } from './redis';

export interface RedisCluster {
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

export async function startRedisCluster(dataDir: string, masters = 3): Promise<RedisCluster> {
  const servers: RunningService[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const dir = join(dataDir, `node-${i}`);
      await mkdir(dir, { recursive: true });
      servers.push(
        await startRedis({
          dataDir: dir,
          appendOnly: false,
          extraArgs: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
          ],
        }),
      );
    }
    const nodes = servers.map((s) => ({ host: '127.0.0.1', port: Number(new URL(s.url).port) }));
    await execFileAsync('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `${n.host}:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    // Every node must agree the cluster is up before clients can rely on it.
    for (let attempt = 0; ; attempt++) {
      const states = await Promise.all(
        nodes.map(
          async (n) =>
            (await execFileAsync('redis-cli', ['-p', String(n.port), 'cluster', 'info'])).stdout,
        ),
      );
      if (states.every((s) => s.includes('cluster_state:ok'))) break;
      if (attempt > 100) throw new Error('Redis Cluster did not reach cluster_state:ok');
      await sleep(100);
    }
    return {
      nodes,
      stop: async () => {
        await Promise.all(servers.map((s) => s.stop()));
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    throw error;
  }
}
