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
SERVER_US_SEND = None  # set from bench/shards.sh below: a message's sending path (read, limit, append, ack)
SERVER_US_RECEIVE = None  # set from bench/shards.sh: each subscribed instance's receive (decode, hub)
SERVER_US_PER_ROOM_SEC = None  # set from bench/shards.sh: presence upkeep per room and instance
REDIS_US_PER_MESSAGE = None  # set from bench/shards.sh: master CPU per message, 2 subscribed instances
REDIS_US_PER_ROOM_SEC = None  # set from bench/shards.sh: presence upkeep per room and instance
REDIS_US_PER_SUBSCRIBER = None  # set from bench/shards.sh: each more subscribed instance, per message
STREAM_BYTES_PER_MESSAGE = None  # set from bench/shards.sh: MEMORY USAGE of a stream / XLEN
FRAME_BYTES = 330  # a 100-byte text as the `message` frame (323 bytes of JSON + WebSocket header)
PUBLISHED_BYTES = 300  # the same message as published: `<id> <draft JSON>` (~280) + RESP framing
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


def fit(points):
    """Least-squares line through (x, y) points: (intercept, slope)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else my / mx
    return my - slope * mx, slope


def measured(rows):
    """Reads bench/shards.sh results (JSON lines) into the inputs above.

    CPU is fitted against the message rate over the cluster runs: the slope is the cost of a
    message, the intercept the upkeep that does not depend on messages: each instance holds and
    sweeps the presence of each of its rooms every tick (4 s), a script call on Redis and a
    round trip on the server; heartbeats (one frame per socket per 15 s) are a small part.
    """
    global SERVER_US_SEND, SERVER_US_RECEIVE, SERVER_US_PER_ROOM_SEC, REDIS_US_PER_MESSAGE
    global REDIS_US_PER_ROOM_SEC, REDIS_US_PER_SUBSCRIBER, STREAM_BYTES_PER_MESSAGE
    global REDIS_IN_BYTES_PER_MESSAGE, SESSION_BYTES, PRESENCE_BYTES_PER_MEMBER
    def clean(topology):
        # Exact runs whose machine kept up (p99 within 20 ms): a saturated 2-core machine
        # starves Redis and the servers alike, and their CPU then says nothing about cost.
        return [r for r in rows if r.get("topology") == topology and not r["lost"]
                and not r["duplicated"] and (r["latency_ms"] or {}).get("p99", 1e9) <= 20]

    runs = clean("cluster")
    pubsub = {r["pubsub_subscribers"]: r["us_per_publish"] for r in rows if "pubsub_subscribers" in r}
    masters = lambda r: [n for n in r["nodes"] if n["role"] == "master"]
    # CPU % of a core is µs per 10 ms: % × 10,000 = µs per second.
    redis_base, REDIS_US_PER_MESSAGE = fit(
        [(r["rate"], sum(n["cpu_pct"] or 0 for n in masters(r)) * 1e4) for r in runs])
    server_base, server_per_msg = fit([(r["rate"], r["server_cpu_pct"] * 1e4) for r in runs])
    # One Redis, two instances against one: the difference per message is one more instance's
    # receive path (rooms of 5, so the deliveries are the same).
    both = {r["rate"] for r in clean("single")} & {r["rate"] for r in clean("one-instance")}
    _, two = fit([(r["rate"], r["server_cpu_pct"] * 1e4) for r in clean("single") if r["rate"] in both])
    _, one = fit([(r["rate"], r["server_cpu_pct"] * 1e4) for r in clean("one-instance") if r["rate"] in both])
    SERVER_US_RECEIVE = max(two - one, 0)
    rooms, instances = runs[0]["rooms"], 2
    REDIS_US_PER_ROOM_SEC = max(redis_base, 0) / (rooms * instances)
    SERVER_US_PER_ROOM_SEC = max(server_base, 0) / (rooms * instances)
    SERVER_US_SEND = server_per_msg - 5 * SERVER_US_PER_DELIVERY - 2 * SERVER_US_RECEIVE
    REDIS_US_PER_SUBSCRIBER = (pubsub[50] - pubsub[0]) / 50
    single = clean("single")
    _, single_redis = fit([(r["rate"], sum(n["cpu_pct"] or 0 for n in masters(r)) * 1e4) for r in single])
    print(f"(one Redis, no replica, same load: {single_redis:.0f} µs per message)")
    low = min(runs, key=lambda r: r["rate"])
    STREAM_BYTES_PER_MESSAGE = low["stream_bytes_per_message"]
    REDIS_IN_BYTES_PER_MESSAGE = sum(n["in_bytes"] for n in masters(low)) / (low["rate"] * 8)
    SESSION_BYTES = low.get("session_bytes") or 400
    PRESENCE_BYTES_PER_MEMBER = low.get("presence_bytes_per_member") or 200


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
        cpu = (deliveries * SERVER_US_PER_DELIVERY + msgs * (SERVER_US_SEND + k * SERVER_US_RECEIVE)
               + rooms * k * SERVER_US_PER_ROOM_SEC) / 1e6
        need = max(by_sockets, math.ceil(cpu / (INSTANCE_CORES * INSTANCE_CPU_TARGET)))
        if need == n:
            break
        n = need
    k = instances_per_room(n, room)
    instance_parts = {
        "deliveries": deliveries * SERVER_US_PER_DELIVERY,
        "sending": msgs * SERVER_US_SEND,
        "receiving on every instance": msgs * k * SERVER_US_RECEIVE,
        "presence upkeep": rooms * k * SERVER_US_PER_ROOM_SEC,
    }
    redis_parts = {
        "messages": msgs * (REDIS_US_PER_MESSAGE + (k - 2) * REDIS_US_PER_SUBSCRIBER),
        "presence upkeep": rooms * k * REDIS_US_PER_ROOM_SEC,
    }
    redis_cpu = sum(redis_parts.values()) / 1e6
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
        # To the subscribed instances, and the same writes again to each master's replica.
        "redis_out_mbit": msgs * (k * PUBLISHED_BYTES + REDIS_IN_BYTES_PER_MESSAGE) * 8 / 1e6,
        "instance_first": max(instance_parts, key=instance_parts.get),
        "redis_first": max(redis_parts, key=redis_parts.get),
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
    print(f"- server: {SERVER_US_PER_DELIVERY} µs per delivery; per message {SERVER_US_SEND:.0f} µs to send it "
          f"and {SERVER_US_RECEIVE:.0f} µs on each subscribed instance to receive it; {SERVER_US_PER_ROOM_SEC:.1f} µs/s "
          f"presence upkeep per room and instance; {MEM_PER_SOCKET_KIB} KiB per socket")
    print(f"- Redis masters: {REDIS_US_PER_MESSAGE:.0f} µs per message with two instances subscribed, "
          f"+{REDIS_US_PER_SUBSCRIBER:.2f} µs per more subscribed instance, {REDIS_US_PER_ROOM_SEC:.1f} µs/s "
          f"upkeep per room and instance; {STREAM_BYTES_PER_MESSAGE} bytes per stored message, "
          f"{SESSION_BYTES} per session, {PRESENCE_BYTES_PER_MEMBER} per present member; "
          f"{REDIS_IN_BYTES_PER_MESSAGE:.0f} bytes in per message")
    print()
    print("| users | room size | rooms | messages/s | deliveries/s | instances (by sockets) | instances a room spans | Redis cores | shards (by CPU, by memory) | Redis memory GiB | client egress Mbit/s | Redis egress Mbit/s | limit that bites first |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for users in (10_000, 100_000, 1_000_000):
        for room in (10, 100, 10_000):
            r = size(users, room)
            first = ("instances: socket memory" if r["instances"] == r["by_sockets"]
                     else f"instances: CPU for {r['instance_first']}")
            if r["room_rate"] > r["hot_room_rate"]:
                first += "; one room's shard"
            elif r["shards"] > 1:
                first += ("; shards: CPU for " + r["redis_first"] if r["shards_cpu"] >= r["shards_mem"]
                          else "; shards: memory (history)")
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
    print()
    print("| room size | room's msg/s | rooms one shard holds, by CPU (2 instances a room) | by memory (history kept) |")
    print("|---|---|---|---|")
    for room in (10, 100, 10_000):
        rate = min(room * MESSAGES_PER_USER_PER_SEC, ROOM_RATE_CAP)
        k = min(room, 2)
        cpu = rate * (REDIS_US_PER_MESSAGE + (k - 2) * REDIS_US_PER_SUBSCRIBER) + k * REDIS_US_PER_ROOM_SEC
        kept = min(HISTORY_KEPT, 24 * 3600 * rate)
        mem = kept * STREAM_BYTES_PER_MESSAGE + room * (SESSION_BYTES + PRESENCE_BYTES_PER_MEMBER)
        print(f"| {room:,} | {rate:.2f} | {SHARD_CPU_TARGET * 1e6 / cpu:,.0f} | {SHARD_RAM_GIB * 2**30 / mem:,.0f} |")


if __name__ == "__main__":
    main()
