/**
 * The capacity model of docs/capacity.md, computed from what `npm run bench` measured in the same run: the cost of
 * each operation (the service's CPU and Redis's CPU, per read, write, slide and login) and Redis's bytes per session,
 * then what one shard and one instance carry, and what the model's scenarios need. Pure: numbers in, table out.
 */

/** What one operation costs, in CPU microseconds. */
export interface OperationCost {
  instanceMicros: number
  redisMicros: number
}

export interface MeasuredCosts {
  read: OperationCost
  write: OperationCost
  slide: OperationCost
  login: OperationCost
  redisBytesPerSession: number
}

/** The model's assumptions (docs/capacity.md says why each). */
export const ASSUMPTIONS = {
  /** Memory a shard may fill with sessions: maxmemory on a 32 GiB node, with room for forks and fragmentation. */
  shardMemoryBytes: 24 * 1024 ** 3,
  /** Share of one core a shard may use: Redis runs commands on one thread; headroom for failovers and spikes. */
  shardCpuBudget: 0.5,
  /** Share of one core an instance may use: Node runs JavaScript on one thread; the rest is for spikes and GC. */
  instanceCpuBudget: 0.6,
  /** Of the authenticated requests: reads, the rest writes of the session. */
  readShare: 0.9,
  /** Each active session sends a request every 10 s, so it slides once per touch interval (60 s). */
  requestsPerActiveSessionPerSecond: 0.1,
  touchIntervalSeconds: 60,
  /**
   * How long a session lives on average (an idle one 30 minutes, a remembered one up to 30 days): in a steady state,
   * every session ends and is replaced by a login, so logins/s = sessions / lifetime.
   */
  sessionLifetimeSeconds: 24 * 3600,
}

export interface Scenario {
  sessions: number
  requestsPerSecond: number
}

export const SCENARIOS: Scenario[] = [
  { sessions: 10_000_000, requestsPerSecond: 100_000 },
  { sessions: 100_000_000, requestsPerSecond: 100_000 },
]

const MICROS_PER_SECOND = 1e6

/** CPU microseconds per second that the load of a scenario costs, on instances and on Redis. */
function loadOf({ read, write, slide, login }: MeasuredCosts, { sessions, requestsPerSecond }: Scenario) {
  const a = ASSUMPTIONS
  const activeSessions = Math.min(sessions, requestsPerSecond / a.requestsPerActiveSessionPerSecond)
  const rates = {
    read: requestsPerSecond * a.readShare,
    write: requestsPerSecond * (1 - a.readShare),
    slide: activeSessions / a.touchIntervalSeconds,
    login: sessions / a.sessionLifetimeSeconds,
  }
  const total = (of: keyof OperationCost) => rates.read * read[of] + rates.write * write[of] + rates.slide * slide[of] + rates.login * login[of]
  return { instanceMicros: total('instanceMicros'), redisMicros: total('redisMicros'), logins: rates.login }
}

export function capacity(costs: MeasuredCosts) {
  const a = ASSUMPTIONS
  const perShard = {
    sessions: a.shardMemoryBytes / costs.redisBytesPerSession,
    reads: (a.shardCpuBudget * MICROS_PER_SECOND) / costs.read.redisMicros,
  }
  const perInstance = {
    reads: (a.instanceCpuBudget * MICROS_PER_SECOND) / costs.read.instanceMicros,
    logins: (a.instanceCpuBudget * MICROS_PER_SECOND) / costs.login.instanceMicros,
  }
  const scenarios = SCENARIOS.map((scenario) => {
    const load = loadOf(costs, scenario)
    const memoryBytes = scenario.sessions * costs.redisBytesPerSession
    const shardsForMemory = Math.ceil(memoryBytes / a.shardMemoryBytes)
    const shardsForCpu = Math.ceil(load.redisMicros / (a.shardCpuBudget * MICROS_PER_SECOND))
    return {
      ...scenario,
      memoryBytes,
      shardsForMemory,
      shardsForCpu,
      shards: Math.max(shardsForMemory, shardsForCpu),
      instances: Math.ceil(load.instanceMicros / (a.instanceCpuBudget * MICROS_PER_SECOND)),
      logins: load.logins,
      loginShareOfInstanceCpu: (load.logins * costs.login.instanceMicros) / load.instanceMicros,
    }
  })
  return { perShard, perInstance, scenarios }
}

const round = (value: number, digits = 1) => value.toFixed(digits)
const thousands = (value: number) => Math.round(value).toLocaleString('en-US')
const GB = 1e9

export function capacityTables(costs: MeasuredCosts): string {
  const { perShard, perInstance, scenarios } = capacity(costs)
  const cost = (name: string, { instanceMicros, redisMicros }: OperationCost) => `| ${name} | ${round(instanceMicros)} | ${round(redisMicros, 2)} |`
  return [
    '| capacity model: cost per operation | instance CPU µs | Redis CPU µs |',
    '|---|---:|---:|',
    cost('read (GET /api/dashboard, many sessions in turn)', costs.read),
    cost('write (POST /api/count)', costs.write),
    cost('slide of the expiry (beside a read)', costs.slide),
    cost('login (POST /auth/login)', costs.login),
    '',
    '| capacity model: one unit carries | |',
    '|---|---:|',
    `| Redis bytes per session | ${round(costs.redisBytesPerSession, 0)} |`,
    `| sessions per shard (${round(ASSUMPTIONS.shardMemoryBytes / 1024 ** 3, 0)} GiB) | ${thousands(perShard.sessions)} |`,
    `| reads/s per shard (${ASSUMPTIONS.shardCpuBudget * 100}% of a core) | ${thousands(perShard.reads)} |`,
    `| reads/s per instance (${ASSUMPTIONS.instanceCpuBudget * 100}% of a core) | ${thousands(perInstance.reads)} |`,
    `| logins/s per instance (${ASSUMPTIONS.instanceCpuBudget * 100}% of a core) | ${round(perInstance.logins)} |`,
    '',
    '| capacity model: scenario | logins/s | Redis memory (GB) | shards for memory | shards for CPU | shards | instances | logins\' share of instance CPU |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...scenarios.map((s) => `| ${thousands(s.sessions)} sessions, ${thousands(s.requestsPerSecond)} req/s | ${thousands(s.logins)} | ${round(s.memoryBytes / GB)} | `
      + `${s.shardsForMemory} | ${s.shardsForCpu} | ${s.shards} | ${s.instances} | ${round(s.loginShareOfInstanceCpu * 100, 0)}% |`),
  ].join('\n')
}
