// The test cluster's addresses and a handle on scripts/cluster.sh, shared by setup and tests.
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const lbPort = Number(process.env.LB_PORT ?? 8200);
const root = path.resolve(__dirname, "..", "..");

const env = {
  ...process.env,
  LB_PORT: String(lbPort),
  REDIS_PORT: process.env.REDIS_PORT ?? String(lbPort + 179),
  CLUSTER_DIR: process.env.CLUSTER_DIR ?? path.join(root, "end2end", "test-results", "cluster"),
  // Short heartbeats, so a client's silence limit (2 × heartbeat + 5 s, announced in `hello`)
  // ends within a test: a frozen instance's users move on after 9 s.
  HEARTBEAT_SECS: process.env.HEARTBEAT_SECS ?? "2",
  // Presence of a killed instance's users ends within 4 s (plus a sweep); a user whose last
  // socket closed stays listed 2 s, long enough for a reconnect to be silent.
  PRESENCE_TTL_SECS: process.env.PRESENCE_TTL_SECS ?? "4",
  PRESENCE_GRACE_SECS: process.env.PRESENCE_GRACE_SECS ?? "2",
  // Every test logs in from 127.0.0.1. Messages: a burst of 20, then 50 a second per user, so
  // the tests that post a hundred messages take two seconds and the rate-limit test sees limits.
  RATE_LOGINS_PER_MIN: process.env.RATE_LOGINS_PER_MIN ?? "60000",
  // Every test's accounts are made from 127.0.0.1 too.
  RATE_SIGNUPS_PER_HOUR: process.env.RATE_SIGNUPS_PER_HOUR ?? "1000000",
  RATE_SIGNINS_PER_ACCOUNT_PER_MIN: process.env.RATE_SIGNINS_PER_ACCOUNT_PER_MIN ?? "60000",
  RATE_MESSAGES_PER_SEC: process.env.RATE_MESSAGES_PER_SEC ?? "50",
  RATE_MESSAGES_BURST: process.env.RATE_MESSAGES_BURST ?? "20",
  // The browser tests log in with a name only, as guests; guests are a setting that is off by
  // default once accounts (PostgreSQL, which scripts/cluster.sh starts) exist.
  ALLOW_GUESTS: process.env.ALLOW_GUESTS ?? "true",
  // An OpenID provider (end2end/oidc/provider.mjs) for single sign-on, on its own port.
  OIDC_PORT: process.env.OIDC_PORT ?? String(lbPort + 590),
};

export const cluster = {
  size: Number(process.env.CLUSTER_SIZE ?? 3),
  baseURL: process.env.BASE_URL ?? `http://127.0.0.1:${lbPort}`,
  /** The URL of instance `i` (1-based), bypassing the load balancer. */
  instanceURL: (i: number) => `http://127.0.0.1:${lbPort + i}`,
  /** Runs `scripts/cluster.sh <args>`: up, down, kill I, stop I, start I, restart I. */
  run: (...args: string[]) =>
    execFileSync(path.join(root, "scripts", "cluster.sh"), args, { env, stdio: "inherit" }),
};
