#!/usr/bin/env python3
"""The capacity model of docs/scaling.md, as code: measured inputs in, sizing tables out.

    python3 bench/capacity.py            # prints the tables docs/scaling.md quotes

Every input below is a measurement (the command that took it is named beside it) or a stated
assumption about how people chat. Change an input and run it again; nothing else is hidden.
"""

import math

# --- measured on this project's 2-core machine (see docs/performance.md, bench/shards.sh) ---
MEM_PER_SOCKET_KIB = 9.2  # idle socket with presence, 10k on one instance (performance.md, issue 8)
INSTANCE_BASE_MIB = 30  # an instance's RSS with no sockets (27 MB measured, rounded up)
SERVER_US_PER_DELIVERY = 6.0  # fan-out CPU per message per socket at 80k deliveries/s (5.75 measured)
SERVER_US_PER_MESSAGE = None  # set from bench/shards.sh below: sending path + each instance's receive
REDIS_US_PER_MESSAGE = None  # set from bench/shards.sh: master CPU per message, 2 subscribed instances
REDIS_US_PER_SUBSCRIBER = None  # set from bench/shards.sh: each more subscribed instance, per message
STREAM_BYTES_PER_MESSAGE = None  # set from bench/shards.sh: MEMORY USAGE of a stream / XLEN
FRAME_BYTES = 330  # a 100-byte text as the `message` frame (323 bytes of JSON + WebSocket header)
REDIS_IN_BYTES_PER_MESSAGE = None  # set from bench/shards.sh: INFO stats, masters, per message
SESSION_BYTES = None  # set from bench/shards.sh: MEMORY USAGE of one session key
PRESENCE_BYTES_PER_MEMBER = None  # set from bench/shards.sh: here+who+whon of a room, per member

# --- what an instance and a shard are given ---
INSTANCE_CORES = 1.0
INSTANCE_RAM_MIB = 1024
INSTANCE_CPU_TARGET = 0.5  # headroom for a reconnect storm (a dead instance's users arrive at once)
INSTANCE_SOCKET_CAP = 50_000  # MAX_SOCKETS default
SHARD_CPU_TARGET = 0.5  # Redis executes on one core; half of it, for failover catch-up and spikes
SHARD_RAM_GIB = 8  # usable memory per master (its replica holds the same)
HISTORY_KEPT = 10_000  # HISTORY_MAX: messages kept per room

# --- how people chat (assumptions) ---
MESSAGES_PER_USER_PER_SEC = 1 / 60  # one message a minute per connected user
ROOM_RATE_CAP = 20.0  # above ~20 msg/s nobody reads a room; large rooms are capped there


def measured(rows):
    """Reads bench/shards.sh results (JSON lines) into the inputs above."""
    global SERVER_US_PER_MESSAGE, REDIS_US_PER_MESSAGE, REDIS_US_PER_SUBSCRIBER
    global STREAM_BYTES_PER_MESSAGE, REDIS_IN_BYTES_PER_MESSAGE, SESSION_BYTES
    global PRESENCE_BYTES_PER_MEMBER
    runs = [r for r in rows if r.get("topology") == "cluster"]
    pubsub = {r["pubsub_subscribers"]: r["us_per_publish"] for r in rows if "pubsub_subscribers" in r}
    # The lowest rate is the least disturbed by the shared 2-core machine: take its figures.
    run = min(runs, key=lambda r: r["rate"])
    msgs = run["rate"] * 8  # the measured window is 8 s
    masters = [n for n in run["nodes"] if n["role"] == "master"]
    REDIS_US_PER_MESSAGE = sum(n["cpu_pct"] or 0 for n in masters) / 100 * 8e6 / msgs
    deliveries = msgs * 5  # rooms of 5
    server_us = run["server_cpu_pct"] / 100 * 8e6
    SERVER_US_PER_MESSAGE = (server_us - deliveries * SERVER_US_PER_DELIVERY) / msgs
    REDIS_US_PER_SUBSCRIBER = (pubsub[50] - pubsub[0]) / 50
    STREAM_BYTES_PER_MESSAGE = run["stream_bytes_per_message"]
    REDIS_IN_BYTES_PER_MESSAGE = sum(n["in_bytes"] for n in masters) / msgs
    SESSION_BYTES = run.get("session_bytes") or 400
    PRESENCE_BYTES_PER_MEMBER = run.get("presence_bytes_per_member") or 200


def instances_per_room(instances, size):
    """Expected instances holding at least one of a room's members (members spread evenly)."""
    return instances * (1 - (1 - 1 / instances) ** size)


def size(users, room):
    rooms = max(users // room, 1)
    room_rate = min(room * MESSAGES_PER_USER_PER_SEC, ROOM_RATE_CAP)
    msgs = rooms * room_rate
    deliveries = msgs * room
    per_instance_mem = (INSTANCE_RAM_MIB - INSTANCE_BASE_MIB) * 1024 / MEM_PER_SOCKET_KIB
    sockets_per_instance = min(per_instance_mem, INSTANCE_SOCKET_CAP)
    by_sockets = math.ceil(users / sockets_per_instance)
    n = by_sockets
    # Instances: CPU depends on how many instances each room spans, so iterate to a fixed point.
    for _ in range(50):
        k = instances_per_room(n, room)
        cpu = (deliveries * SERVER_US_PER_DELIVERY + msgs * SERVER_US_PER_MESSAGE * k / 2) / 1e6
        need = max(by_sockets, math.ceil(cpu / (INSTANCE_CORES * INSTANCE_CPU_TARGET)))
        if need == n:
            break
        n = need
    k = instances_per_room(n, room)
    redis_cpu = msgs * (REDIS_US_PER_MESSAGE + (k - 2) * REDIS_US_PER_SUBSCRIBER) / 1e6
    shards_cpu = math.ceil(redis_cpu / SHARD_CPU_TARGET)
    kept = min(HISTORY_KEPT, 24 * 3600 * room_rate)  # a day of messages, at most HISTORY_MAX
    memory = (rooms * kept * STREAM_BYTES_PER_MESSAGE + users * SESSION_BYTES
              + users * PRESENCE_BYTES_PER_MEMBER)
    shards_mem = math.ceil(memory / (SHARD_RAM_GIB * 2**30))
    hot_room = SHARD_CPU_TARGET * 1e6 / (REDIS_US_PER_MESSAGE + (k - 2) * REDIS_US_PER_SUBSCRIBER)
    return {
        "users": users, "room": room, "rooms": rooms, "msgs": msgs, "deliveries": deliveries,
        "instances": n, "by_sockets": by_sockets, "k": k, "redis_cpu": redis_cpu,
        "shards": max(shards_cpu, shards_mem, 1), "shards_cpu": shards_cpu,
        "shards_mem": shards_mem, "redis_gib": memory / 2**30,
        "client_mbit": deliveries * FRAME_BYTES * 8 / 1e6,
        "redis_out_mbit": msgs * k * (REDIS_IN_BYTES_PER_MESSAGE or 0) * 8 / 1e6,
        "hot_room_rate": hot_room, "room_rate": room_rate,
    }


def main():
    import json, pathlib, sys
    path = sys.argv[1] if len(sys.argv) > 1 else None
    if path is None:
        found = sorted(pathlib.Path(__file__).parent.glob("results/shards-*/shards.jsonl"))
        if not found:
            sys.exit("no bench/results/shards-*/shards.jsonl: run bench/shards.sh first")
        path = found[-1]
    measured([json.loads(l) for l in open(path) if l.strip()])
    print(f"inputs from {path}:")
    print(f"- server: {SERVER_US_PER_DELIVERY} µs per delivery, {SERVER_US_PER_MESSAGE:.0f} µs per message "
          f"(sending path and two instances' receive), {MEM_PER_SOCKET_KIB} KiB per socket")
    print(f"- Redis master: {REDIS_US_PER_MESSAGE:.0f} µs per message with two instances subscribed, "
          f"+{REDIS_US_PER_SUBSCRIBER:.2f} µs per more subscribed instance; "
          f"{STREAM_BYTES_PER_MESSAGE} bytes per stored message; {REDIS_IN_BYTES_PER_MESSAGE:.0f} bytes in per message")
    print()
    print("| users | room size | rooms | messages/s | deliveries/s | instances (by sockets) | instances a room spans | Redis cores | shards (by CPU, by memory) | Redis memory GiB | client egress Mbit/s | Redis egress Mbit/s | limit that bites first |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for users in (10_000, 100_000, 1_000_000):
        for room in (10, 100, 10_000):
            r = size(users, room)
            first = ("sockets (memory)" if r["instances"] == r["by_sockets"] else "instance CPU (deliveries)")
            if r["room_rate"] > r["hot_room_rate"]:
                first = "one room's shard"
            elif r["shards_cpu"] > 1 and r["shards_cpu"] >= r["shards_mem"]:
                first += "; Redis CPU"
            print(f"| {users:,} | {room:,} | {r['rooms']:,} | {r['msgs']:,.0f} | {r['deliveries']:,.0f} "
                  f"| {r['instances']} ({r['by_sockets']}) | {r['k']:.1f} | {r['redis_cpu']:.2f} "
                  f"| {r['shards']} ({r['shards_cpu']}, {r['shards_mem']}) | {r['redis_gib']:.1f} "
                  f"| {r['client_mbit']:,.0f} | {r['redis_out_mbit']:,.0f} | {first} |")
    print()
    for n in (2, 10, 40, 100):
        rate = SHARD_CPU_TARGET * 1e6 / (REDIS_US_PER_MESSAGE + (n - 2) * REDIS_US_PER_SUBSCRIBER)
        print(f"- one room spanning {n} instances: at most {rate:,.0f} msg/s on its shard")
    per_shard = SHARD_CPU_TARGET * 1e6 / REDIS_US_PER_MESSAGE
    print(f"- one shard: {per_shard:,.0f} msg/s of small rooms (two instances each) at {SHARD_CPU_TARGET:.0%} of its core")


if __name__ == "__main__":
    main()
