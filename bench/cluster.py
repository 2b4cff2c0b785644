"""Benchmark: Kafka cluster mode (`up --kafka-brokers 3`): cold `up`, RSS per process and in total, and
leader failover as a producer sees it (SIGKILL of the leader -> the next acknowledged write).

A stack of its own (bench/common.py: offset 10000 and a temporary home unless POLYDEMO_HOME says).
The failover probe is an acks=all idempotent producer (stores.kafka.producer_config, as every polydemo
producer) sending one message every 20 ms to a topic with replication factor 3 and min.insync.replicas 2;
the figure is the time from the SIGKILL to the first delivery acknowledged after it. Repeated
``--failovers`` times (default 3), restarting the killed broker in between. Prints figures, asserts nothing.
Targets: cold up <= 25 s, RSS <= 3 GB, failover <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_env, cleanup, pct  # noqa: E402

TOPIC = "polydemo.bench.failover"


def failover_once(settings, rt, topic: str = TOPIC) -> float:
    from confluent_kafka import Producer

    from polydemo.stores import kafka

    admin = kafka.KafkaAdmin(settings)
    leader = admin.partition_states([topic])[0].leader
    acked: list[float] = []
    stop = threading.Event()
    producer = Producer(kafka.producer_config(settings))

    killed = [float("inf")]  # when the kill was sent; set below

    def run():
        while not stop.is_set():
            sent = time.monotonic()

            # Only a write produced after the kill counts: one in flight before it may be acknowledged by
            # the dead leader's followers (a round once printed 0.00 s that way).
            def on_ack(err, _msg, sent=sent):
                if err is None and sent > killed[0]:
                    acked.append(time.monotonic())

            producer.produce(topic, key=b"k", value=b"v", on_delivery=on_ack)
            producer.poll(0.02)
        producer.flush(30)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(2)
    # read the leader again just before the kill: a broker restarted by the previous round takes its
    # preferred partitions back (leader.imbalance.check.interval.seconds=10), possibly during those 2 s
    leader = admin.partition_states([topic])[0].leader
    from polydemo.runtime.local import controller_leader

    quorum = controller_leader(settings)
    was_controller = quorum is not None and quorum[0] == leader
    changes: list[tuple[float, int, int]] = []  # (when, leader, ISR size) as the metadata showed them

    def watch_metadata():
        from polydemo.stores import kafka as kafka_store

        watcher = kafka_store.KafkaAdmin(settings)
        last = None
        while not stop.is_set():
            try:
                st = watcher.partition_states([topic])[0]
                now = (st.leader, len(st.isr))
                if now != last:
                    changes.append((time.monotonic(), *now))
                    last = now
            except Exception:  # noqa: BLE001 - a metadata read that fails during the election: try again
                pass
            time.sleep(0.05)

    w = threading.Thread(target=watch_metadata, daemon=True)
    w.start()
    time.sleep(0.3)
    killed_at = killed[0] = time.monotonic()
    rt.kill_service(settings.broker_service(leader))
    deadline = killed_at + 60
    while time.monotonic() < deadline and not any(a > killed_at + 0.001 for a in acked):
        time.sleep(0.01)
    after = [a for a in acked if a > killed_at]
    time.sleep(1)
    stop.set()
    t.join()
    rt.start_service(settings.broker_service(leader))
    while len(admin.partition_states([topic])[0].isr) < 3:
        time.sleep(0.5)
    # Give the partition back to its preferred leader now, so the broker's own imbalance check (every 10 s)
    # cannot move it between the next round's read of the leader and its kill (that round printed 0.01 s).
    from confluent_kafka import ElectionType, TopicPartition

    tp = TopicPartition(topic, 0)
    try:
        # no request_timeout: confluent-kafka 2.16.1's C binding rejects it ("more argument specifiers than
        # keyword list entries"), so the future's own timeout bounds the wait
        admin.client.elect_leaders(ElectionType.PREFERRED, [tp]).result(timeout=15)
    except Exception as exc:  # noqa: BLE001 - "election not needed" when it already leads
        print(f"  (preferred election: {exc})")
    if not after:
        return float("nan")
    took = after[0] - killed_at
    role = "the partition leader and the active controller" if was_controller else "the partition leader only"
    seen = ", ".join(f"+{t - killed_at:.2f}s leader {ld} ISR {n}" for t, ld, n in changes if t >= killed_at)
    print(f"  round: killed broker {leader}, {role}: {took:.2f} s (metadata: {seen or 'no change seen'})")
    return took


def controller_led_topic(settings, i: int) -> str:
    """A new topic whose one partition is led by the broker that leads the controller quorum (its preferred
    replica, first in an explicit assignment), so a kill of that leader is a controller failover too."""
    from confluent_kafka.admin import NewTopic

    from polydemo.runtime.local import controller_leader
    from polydemo.stores import kafka

    admin = kafka.KafkaAdmin(settings)
    quorum = controller_leader(settings)
    assert quorum is not None, "no controller leader in the quorum-state files"
    ctl = quorum[0]
    name = f"{TOPIC}-controller-{i}-{int(time.time())}"
    order = [ctl, *[b for b in settings.broker_ids() if b != ctl]]
    fut = admin.client.create_topics(
        [NewTopic(name, num_partitions=1, replica_assignment=[order], config={"min.insync.replicas": "2"})]
    )
    fut[name].result(timeout=15)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            st = admin.partition_states([name])[0]
            if st.leader == ctl and len(st.isr) == 3:
                return name
        except Exception:  # noqa: BLE001 - not in the metadata yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name}: broker {ctl} did not lead it with 3 in sync")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument(
        "--controller-rounds",
        type=int,
        default=2,
        help="rounds that kill a partition leader which is also the active controller (default 2)",
    )
    args = parser.parse_args()
    os.environ["POLYDEMO_KAFKA_BROKERS"] = "3"
    home, owned = bench_env()
    from polydemo import procs, stack
    from polydemo.config import Settings
    from polydemo.pipeline import workers
    from polydemo.runtime.local import LocalRuntime
    from polydemo.stores.kafka import KafkaAdmin

    settings = Settings.from_env()
    rt = LocalRuntime(settings)
    try:
        with open("/proc/loadavg") as f:
            print(f"load before: {f.read().strip()}")
        t0 = time.monotonic()
        healthy: list[tuple[float, str]] = []  # when each server / pipeline step was ready, from the start

        def progress(name: str, state: str, _detail: str) -> None:
            if state == "healthy":
                healthy.append((time.monotonic() - t0, name))

        cold = stack.bring_up(rt, progress=progress)
        print(
            f"cold up (3 brokers, servers + schemas + connector + projectors): {time.monotonic() - t0:.1f}s "
            f"(servers {cold.servers.seconds:.1f}s)"
        )
        print("  ready at: " + ", ".join(f"{name} {at:.1f}s" for at, name in healthy))
        time.sleep(5)
        rss = {s.service: s.rss_bytes or 0 for s in rt.status()}
        for n in workers.WORKERS:
            proc = procs.alive(workers.pid_file(settings, n))
            rss[f"projector-{n}"] = procs.tree_rss(proc) if proc else 0
        for name, b in rss.items():
            print(f"  RSS {name:<20} {b / 2**20:7.0f} MB")
        print(f"  RSS total                {sum(rss.values()) / 2**30:7.2f} GB")
        KafkaAdmin(settings).ensure_topics([TOPIC], configs={TOPIC: {"min.insync.replicas": "2"}})
        times = [failover_once(settings, rt) for _ in range(args.failovers)]
        print(
            "failover, SIGKILL of the leader -> next acknowledged write: "
            + ", ".join(f"{x:.2f}s" for x in times)
            + f" (median {pct(times, 50):.2f}s)"
        )
        both = [failover_once(settings, rt, controller_led_topic(settings, i)) for i in range(args.controller_rounds)]
        if both:
            print(
                "failover when the leader is also the active controller: "
                + ", ".join(f"{x:.2f}s" for x in both)
                + f" (median {pct(both, 50):.2f}s)"
            )
        with open("/proc/loadavg") as f:
            print(f"load after: {f.read().strip()}")
    finally:
        stack.bring_down(rt)
        cleanup(home, owned)


if __name__ == "__main__":
    main()
