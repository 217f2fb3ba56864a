"""Ships the editable top-level folders (workflows/, letters/, examples/) inside the wheel as engine/shipped/.

In a checkout they stay where the design card puts them and `engine.workspace` reads them there;
an installed wheel has no checkout, so the build copies them into the package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("workflows", "letters", "examples")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "~$*", "*.rejected.csv")


class BuildWithShippedMaterial(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads the checkout's folders directly
        target = Path(self.build_lib) / "engine" / "shipped"
        for name in SHIPPED:
            shutil.copytree(HERE / name, target / name, ignore=SKIP, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithShippedMaterial})
