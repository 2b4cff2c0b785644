"""Wire-compat check for a MongoDB-wire server (spike harness, kept for re-verification).

usage: python wire_check.py NAME PORT -- <server argv...>
Starts the server itself (owns the PID), exercises the operations polydemo needs with
pymongo, measures startup/RSS/throughput/stop time, SIGTERM-restart and kill -9-restart,
then stops it. Writes /tmp/mongospike/NAME/results.json. Needs: pymongo==4.20.1, psutil.
"""
import json, os, signal, socket, subprocess, sys, time, traceback

import psutil
import pymongo
from pymongo import MongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

name, port = sys.argv[1], int(sys.argv[2])
argv = sys.argv[sys.argv.index("--") + 1:]
OUT = f"/tmp/mongospike/{name}"
os.makedirs(OUT, exist_ok=True)
results = {"server": name, "argv": argv, "pymongo": pymongo.version, "ops": {}, "figures": {}}
URI = f"mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=2000"
proc = None
logn = 0


def log(*a):
    print(f"[{name}]", *a, flush=True)


def start(tag):
    global proc, logn
    logn += 1
    lf = open(f"{OUT}/server-{logn}-{tag}.log", "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT, start_new_session=True)
    log("started pid", proc.pid, tag)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited rc={proc.returncode} during startup")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.01)
            continue
        try:
            c = MongoClient(URI, serverSelectionTimeoutMS=2000, connectTimeoutMS=200)
            c.admin.command("ping")
            c.close()
            break
        except PyMongoError:
            time.sleep(0.05)
        if time.monotonic() - t0 > 60:
            raise RuntimeError("no ping within 60s")
    dt = time.monotonic() - t0
    log(f"first ping after {dt:.2f}s")
    return dt


def rss_mb():
    p = psutil.Process(proc.pid)
    total = p.memory_info().rss
    for ch in p.children(recursive=True):
        total += ch.memory_info().rss
    return round(total / 2**20, 1)


def stop(sig=signal.SIGTERM):
    t0 = time.monotonic()
    os.kill(proc.pid, sig)
    try:
        rc = proc.wait(30)
    except subprocess.TimeoutExpired:
        log("did not stop in 30s; SIGKILL")
        os.kill(proc.pid, signal.SIGKILL)
        rc = proc.wait()
    dt = time.monotonic() - t0
    log(f"stopped by {sig!r} in {dt:.2f}s rc={rc}")
    return round(dt, 3), rc


def check(op):
    def deco(fn):
        try:
            r = fn()
            results["ops"][op] = {"ok": True, "detail": r}
            log("PASS", op, r if r is not None else "")
        except Exception as e:  # noqa: BLE001
            results["ops"][op] = {"ok": False, "detail": f"{type(e).__name__}: {e}"[:600]}
            log("FAIL", op, f"{type(e).__name__}: {e}"[:600])
            traceback.print_exc(limit=2)
        return fn
    return deco


def collect(stream, n, timeout=8.0):
    evs = []
    t0 = time.monotonic()
    while len(evs) < n and time.monotonic() - t0 < timeout:
        ev = stream.try_next()
        if ev is not None:
            evs.append(ev)
    return evs


def post(i, **kw):
    d = {"slug": f"post-{i}", "author": f"user{i % 50}", "text": "lorem ipsum " * 15,
         "tags": ["demo", f"t{i % 7}"], "meta": {"likes": 0}, "created": i}
    d.update(kw)
    return d


try:
    results["figures"]["startup_s"] = round(start("first"), 3)
    time.sleep(2)
    results["figures"]["rss_idle_mb"] = rss_mb()
    cl = MongoClient(URI)
    db = cl.social
    cl.drop_database("social")
    posts = db.posts

    @check("ping")
    def _():
        return cl.admin.command("ping")

    @check("buildInfo")
    def _():
        b = cl.admin.command("buildInfo")
        return {k: b.get(k) for k in ("version", "versionArray", "gitVersion", "ferretdbVersion", "ferretdb") if k in b} | {"keys": sorted(b)[:25]}

    @check("hello")
    def _():
        h = cl.admin.command("hello")
        return {k: h.get(k) for k in ("isWritablePrimary", "setName", "maxWireVersion", "minWireVersion", "logicalSessionTimeoutMinutes", "msg")}

    @check("server_info")
    def _():
        return cl.server_info().get("version")

    @check("insert_one")
    def _():
        return str(posts.insert_one(post(0)).inserted_id)

    @check("insert_many")
    def _():
        return len(posts.insert_many([post(i) for i in range(1, 20)]).inserted_ids)

    @check("find_sort_limit")
    def _():
        r = [d["created"] for d in posts.find({}, {"created": 1}).sort("created", -1).limit(3)]
        assert r == [19, 18, 17], r
        return r

    @check("update_one_inc_nested")
    def _():
        r = posts.update_one({"slug": "post-3"}, {"$inc": {"meta.likes": 1}})
        posts.update_one({"slug": "post-3"}, {"$inc": {"meta.likes": 2}})
        v = posts.find_one({"slug": "post-3"})["meta"]["likes"]
        assert (r.matched_count, r.modified_count, v) == (1, 1, 3), (r.raw_result, v)
        return v

    @check("unique_index_duplicate_key")
    def _():
        posts.create_index("slug", unique=True, name="slug_unique")
        idx = posts.index_information()
        assert idx["slug_unique"].get("unique"), idx
        try:
            posts.insert_one(post(5))
        except DuplicateKeyError as e:
            return f"DuplicateKeyError code={e.code}"
        raise AssertionError("duplicate insert accepted")

    @check("count_documents")
    def _():
        n = posts.count_documents({})
        m = posts.count_documents({"author": "user1"})
        assert (n, m) == (20, 1), (n, m)
        return {"all": n, "filtered": m, "estimated": posts.estimated_document_count()}

    @check("aggregate_group")
    def _():
        r = list(posts.aggregate([{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}, "likes": {"$sum": "$meta.likes"}}}, {"$sort": {"_id": 1}}]))
        assert r[0] == {"_id": "demo", "n": 20, "likes": 3}, r
        return r[:2]

    @check("aggregate_group_sum_nested_no_unwind")
    def _():
        r = list(posts.aggregate([{"$group": {"_id": None, "n": {"$sum": 1}, "likes": {"$sum": "$meta.likes"}}}]))
        assert r[0]["likes"] == 3, r
        return r

    @check("aggregate_match_group_sort_limit")
    def _():
        r = list(posts.aggregate([{"$match": {"meta.likes": {"$gte": 0}}}, {"$group": {"_id": "$author", "n": {"$sum": 1}}}, {"$sort": {"n": -1, "_id": 1}}, {"$limit": 2}]))
        assert len(r) == 2 and r[0]["n"] == 1, r
        return r

    @check("find_one_and_update_upsert")
    def _():
        d = db.counters.find_one_and_update({"_id": "views"}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
        d2 = db.counters.find_one_and_update({"_id": "views"}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
        assert (d["n"], d2["n"]) == (1, 2), (d, d2)
        return d2

    @check("transaction_commit")
    def _():
        with cl.start_session() as s:
            with s.start_transaction():
                db.txn.insert_one({"_id": 1}, session=s)
                db.txn.insert_one({"_id": 2}, session=s)
        n = db.txn.count_documents({})
        assert n == 2, n
        return n

    @check("transaction_abort_isolated")
    def _():
        with cl.start_session() as s:
            s.start_transaction()
            db.txn.insert_one({"_id": 3}, session=s)
            outside = db.txn.count_documents({"_id": 3})
            s.abort_transaction()
        after = db.txn.count_documents({"_id": 3})
        assert (outside, after) == (0, 0), (outside, after)
        return "invisible outside txn, gone after abort"

    state = {}

    @check("change_stream_insert_update_delete")
    def _():
        with posts.watch(full_document="updateLookup", max_await_time_ms=200) as cs:
            posts.insert_one(post(100))
            evs = collect(cs, 1)
            posts.update_one({"slug": "post-100"}, {"$inc": {"meta.likes": 1}})
            evs += collect(cs, 1)
            posts.delete_one({"slug": "post-100"})
            evs += collect(cs, 1)
        kinds = [e["operationType"] for e in evs]
        assert kinds == ["insert", "update", "delete"], kinds
        upd = evs[1]
        assert upd["fullDocument"]["meta"]["likes"] == 1, upd
        assert upd["updateDescription"]["updatedFields"] == {"meta.likes": 1}, upd["updateDescription"]
        state["token_after_insert"] = evs[0]["_id"]
        return {"kinds": kinds, "token": str(evs[0]["_id"])[:60]}

    @check("delete_many")
    def _():
        r = posts.delete_many({"author": {"$in": ["user1", "user2"]}})
        assert r.deleted_count == 2, r.raw_result
        r = posts.delete_many({})
        return r.deleted_count

    # --- throughput ---
    @check("bulk_10k_insert_many")
    def _():
        docs = [post(i) for i in range(1000, 11000)]
        t0 = time.monotonic()
        for k in range(0, 10000, 1000):
            posts.insert_many(docs[k:k + 1000])
        dt = time.monotonic() - t0
        results["figures"]["insert_10k_s"] = round(dt, 3)
        results["figures"]["insert_docs_per_s"] = round(10000 / dt)
        assert posts.count_documents({}) == 10000
        return f"{dt:.2f}s"

    time.sleep(1)
    results["figures"]["rss_after_10k_mb"] = rss_mb()

    @check("find_sort_limit_10k")
    def _():
        t0 = time.monotonic()
        r = [d["created"] for d in posts.find({"author": "user7"}).sort("created", -1).limit(10)]
        return {"first": r[:3], "ms": round((time.monotonic() - t0) * 1000, 1)}

    cl.close()
    # --- clean stop ---
    results["figures"]["sigterm_stop_s"], results["figures"]["sigterm_rc"] = stop(signal.SIGTERM)
    results["figures"]["restart_startup_s"] = round(start("after-sigterm"), 3)
    cl = MongoClient(URI)
    db = cl.social
    posts = db.posts

    @check("data_intact_after_sigterm")
    def _():
        n = posts.count_documents({})
        assert n == 10000, n
        assert db.counters.find_one({"_id": "views"})["n"] == 2
        return n

    @check("change_stream_resume_after_restart")
    def _():
        tok = state["token_after_insert"]
        posts.insert_one({"slug": "after-restart"})
        with posts.watch(full_document="updateLookup", resume_after=tok, max_await_time_ms=200) as cs:
            evs = collect(cs, 5, timeout=6)
        # events after the token before restart: update, delete (post-100), then delete_many of 20 docs ... we just
        # check the first two and that the post-restart insert appears eventually.
        kinds = [e["operationType"] for e in evs]
        assert kinds[:2] == ["update", "delete"], kinds
        return kinds

    @check("change_stream_resume_sees_post_restart_insert")
    def _():
        tok = state["token_after_insert"]
        with posts.watch(resume_after=tok, max_await_time_ms=200) as cs:
            evs = collect(cs, 10050, timeout=60)
        ins = [e for e in evs if e["operationType"] == "insert" and e["fullDocument"].get("slug") == "after-restart"]
        assert ins, f"{len(evs)} events, no after-restart insert"
        return f"{len(evs)} events replayed incl. post-restart insert"

    @check("unique_index_survives_restart")
    def _():
        try:
            posts.insert_one(post(1000))
        except DuplicateKeyError:
            return "still unique"
        raise AssertionError("dup accepted after restart")

    # --- kill -9 ---
    posts.insert_many([post(i) for i in range(20000, 21000)])
    posts.insert_one(post(30000), )
    expected = posts.count_documents({})
    cl.close()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    log("SIGKILLed; expected count", expected)
    results["figures"]["restart_after_kill9_startup_s"] = round(start("after-kill9"), 3)
    cl = MongoClient(URI)
    posts = cl.social.posts

    @check("data_intact_after_kill9")
    def _():
        n = posts.count_documents({})
        results["figures"]["kill9_expected_vs_found"] = [expected, n]
        assert n == expected, (expected, n)
        assert "slug_unique" in posts.index_information()
        return n

    @check("writes_after_kill9")
    def _():
        posts.insert_one({"slug": "post-kill9"})
        return posts.count_documents({})

    cl.close()
    results["figures"]["final_sigterm_stop_s"], _rc = stop(signal.SIGTERM)
finally:
    if proc and proc.poll() is None:
        log("cleanup: SIGKILL pid", proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with open(f"{OUT}/results.json", "w") as f:
        json.dump(results, f, indent=1, default=str)
    fails = [k for k, v in results["ops"].items() if not v["ok"]]
    log("FIGURES", json.dumps(results["figures"]))
    log("FAILED OPS", fails)
