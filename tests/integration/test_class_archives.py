"""A JVM that stopped cleanly maps its class-data-sharing archive at its next start (runtime/cds.py)."""

from __future__ import annotations

from pathlib import Path

from polydemo import procs, seed


def test_neo4j_stopped_cleanly_maps_its_class_archive_at_the_next_start(stack, runtime):
    settings = stack
    assert settings.class_archives, "the suite runs with the archives on (POLYDEMO_CLASS_ARCHIVES unset)"
    assert runtime.stop_service("neo4j") == "stopped"
    kept = sorted(settings.archive_dir.glob("neo4jlauncher-*.jsa"))
    assert len(kept) == 1, f"one Neo4j archive after a clean stop, found {kept}"
    assert not list(settings.archive_dir.glob("neo4jlauncher-*.pending")), "a pending dump was left behind"
    assert not (settings.run_dir / "neo4j.cds").exists()

    assert runtime.start_service("neo4j") == "started"
    proc = procs.alive(settings.pid_file("neo4j"))
    assert proc is not None
    mapped = Path(f"/proc/{proc.pid}/maps").read_text()
    assert str(kept[0]) in mapped, "the restarted JVM did not map the archive"
    assert seed.wait_converged(settings, timeout=90), "the pipeline did not converge after Neo4j restarted"
