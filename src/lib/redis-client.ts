import type { Cluster, Redis } from 'ioredis'

/** One Redis server (or a Sentinel-managed master), or a Redis Cluster: the commands the service uses work on both. */
export type RedisClient = Redis | Cluster
