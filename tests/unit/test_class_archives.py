"""The JVMs' class-data-sharing archives (polydemo/runtime/cds.py): keys, plans and what a stop keeps."""

from __future__ import annotations

import os

from polydemo.runtime import cds


def _jars(tmp_path, *names):
    lib = tmp_path / "lib"
    lib.mkdir(exist_ok=True)
    for n in names:
        (lib / n).write_bytes(b"PK" + n.encode())
    return lib


def _argv(lib, main="kafka.Kafka", *opts):
    return ["/usr/bin/java", "-Xmx256m", *opts, "-cp", f"{lib}/*", main, "/home/x/server.properties"]


def test_split_jvm_reads_options_classpath_and_main_class():
    options, cp, main = cds.split_jvm(["java", "-Xmx1g", "-Dx=1", "-cp", "a/*:b.jar", "org.Main", "--flag", "v"])
    assert options == ["-Xmx1g", "-Dx=1"]
    assert cp == ["a/*", "b.jar"]
    assert main == "org.Main"


def test_the_key_ignores_program_arguments_so_three_brokers_share_one_archive(tmp_path):
    lib = _jars(tmp_path, "kafka.jar")
    one = _argv(lib)
    two = [*one[:-1], "/home/y/kafka-2/server.properties"]
    assert cds.archive_key(one) == cds.archive_key(two)
    assert cds.archive_key(one)[0] == "kafka"


def test_the_key_changes_with_a_jvm_option_the_main_class_or_a_jar(tmp_path):
    lib = _jars(tmp_path, "kafka.jar", "other.jar")
    base = cds.archive_key(_argv(lib))
    assert cds.archive_key(_argv(lib, "kafka.Kafka", "-XX:+UseG1GC")) != base
    assert cds.archive_key(_argv(lib, "kafka.tools.StorageTool"))[1] != base[1]
    (lib / "other.jar").write_bytes(b"PK a newer, longer build")
    assert cds.archive_key(_argv(lib)) != base
    (lib / "third.jar").write_bytes(b"PK")
    assert len({cds.archive_key(_argv(lib))[1], base[1]}) == 2


def test_without_an_archive_the_jvm_writes_one_at_exit_quietly(tmp_path):
    lib = _jars(tmp_path, "kafka.jar")
    p = cds.plan(tmp_path / "cds", _argv(lib), token="t1")
    assert p.pending is not None and p.pending.name.endswith(".t1.pending")
    assert p.flags == [f"-XX:ArchiveClassesAtExit={p.pending}", cds.QUIET_DUMP]
    argv = cds.with_flags(_argv(lib), p.flags)
    assert argv[0] == "/usr/bin/java" and argv[1:3] == p.flags and argv[-2:] == _argv(lib)[-2:]


def test_with_an_archive_the_jvm_maps_it(tmp_path):
    lib = _jars(tmp_path, "kafka.jar")
    first = cds.plan(tmp_path, _argv(lib))
    first.final.write_bytes(b"archive")
    again = cds.plan(tmp_path, _argv(lib))
    assert again.pending is None
    assert again.flags == [f"-XX:SharedArchiveFile={first.final}"]


def test_a_clean_exit_keeps_the_archive_and_removes_older_ones_of_that_name(tmp_path):
    lib = _jars(tmp_path, "kafka.jar")
    old = tmp_path / "kafka-0000000000000000.jsa"
    other = tmp_path / "neo4jlauncher-0000000000000000.jsa"
    old.write_bytes(b"old")
    other.write_bytes(b"neo4j")
    p = cds.plan(tmp_path, _argv(lib))
    record = tmp_path / "run" / "kafka.cds"
    cds.record(record, p)
    assert p.pending is not None
    p.pending.write_bytes(b"the dump")
    assert cds.settle(record, clean=True) == p.final
    assert p.final.read_bytes() == b"the dump"
    assert not p.pending.exists() and not record.exists() and not old.exists()
    assert other.exists()


def test_a_killed_jvm_s_archive_is_deleted_never_used(tmp_path):
    """A SIGKILL during the dump leaves a short file; mapping it could crash the next JVM."""
    lib = _jars(tmp_path, "kafka.jar")
    p = cds.plan(tmp_path, _argv(lib))
    record = tmp_path / "run" / "kafka.cds"
    cds.record(record, p)
    assert p.pending is not None
    p.pending.write_bytes(b"half a du")
    assert cds.settle(record, clean=False) is None
    assert not p.pending.exists() and not p.final.exists() and not record.exists()
    assert cds.plan(tmp_path, _argv(lib)).pending is not None  # the next start writes a new one


def test_an_empty_dump_is_not_kept_and_no_record_is_a_no_op(tmp_path):
    lib = _jars(tmp_path, "kafka.jar")
    p = cds.plan(tmp_path, _argv(lib))
    assert p.pending is not None
    p.pending.write_bytes(b"")
    assert cds.settle_plan(p, clean=True) is None
    assert not p.final.exists()
    assert cds.settle(tmp_path / "run" / "none.cds", clean=True) is None


def test_an_existing_archive_leaves_no_record(tmp_path):
    lib = _jars(tmp_path, "kafka.jar")
    record = tmp_path / "run" / "kafka.cds"
    record.parent.mkdir()
    record.write_text("{}")
    first = cds.plan(tmp_path, _argv(lib))
    first.final.write_bytes(b"archive")
    cds.record(record, cds.plan(tmp_path, _argv(lib)))
    assert not record.exists()


def test_settings_turn_archives_off(monkeypatch, tmp_path):
    from polydemo.config import Settings

    monkeypatch.setenv("POLYDEMO_HOME", str(tmp_path))
    assert Settings.from_env().class_archives is True
    for off in ("0", "off", "no", "false"):
        monkeypatch.setenv("POLYDEMO_CLASS_ARCHIVES", off)
        assert Settings.from_env().class_archives is False
    monkeypatch.setenv("POLYDEMO_CACHE", str(tmp_path / "c"))
    assert Settings.from_env().archive_dir == (tmp_path / "c" / "cds").resolve()
    assert os.path.basename(Settings.from_env().archive_dir) == "cds"


def test_system_properties_do_not_change_the_key_so_two_checkouts_share_archives(tmp_path):
    """Kafka's argv names the checkout's log4j file (-Dlog4j2.configurationFile=...): a second checkout made a
    second key, and each one's first clean stop deleted the other's archive."""
    lib = _jars(tmp_path, "kafka.jar")
    one = cds.archive_key(
        _argv(lib, "kafka.Kafka", "-Dlog4j2.configurationFile=/work/main/stack/kafka/log4j2.properties")
    )
    two = cds.archive_key(
        _argv(lib, "kafka.Kafka", "-Dlog4j2.configurationFile=/tmp/fresh/stack/kafka/log4j2.properties")
    )
    assert one == two
