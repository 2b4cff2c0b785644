"""Build hook only (the metadata is in pyproject.toml): the wheel gets the repository's run-time files.

``build_py`` copies what ``polydemo/_shipped.py`` lists (scenarios, SQL, posts.json, docker-compose.yml,
stack/ configs and the Neo4j launcher source) into ``polydemo/_data/`` of the build. The repository keeps
one copy of each file; an editable install reads them in place (polydemo.resources).
"""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_polydemo_shipped", ROOT / "polydemo" / "_shipped.py")
_shipped = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shipped)


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):
            dest = Path(self.build_lib) / "polydemo" / _shipped.DATA_DIR
            copied = _shipped.copy_shipped(ROOT, dest)
            self.announce(f"polydemo: {len(copied)} data files -> {dest}", level=2)


setup(cmdclass={"build_py": BuildPyWithData})
