"""Rewrite versions/0001_initial.py from the models: `python -m paydown.service.store.migrations.regenerate`.

Autogenerates the initial revision against an empty temporary SQLite database (the old 0001 is set aside while
it runs and put back if anything fails), then tidies it (ruff format and import sorting, if ruff is installed).
Run it after any change to service/store/models.py while 0001 is the only revision; later changes need a new revision.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from paydown.service.store.sessions import MIGRATIONS_DIR, Store, alembic_config

INITIAL = MIGRATIONS_DIR / "versions" / "0001_initial.py"


def regenerate() -> Path:
    with tempfile.TemporaryDirectory(prefix="paydown-migrations-") as tmp:
        aside = Path(tmp) / INITIAL.name
        if INITIAL.exists():
            shutil.move(INITIAL, aside)
        store = Store(f"sqlite:///{Path(tmp) / 'empty.db'}")
        try:
            config = alembic_config()
            with store.engine.connect() as conn:
                config.attributes["connection"] = conn
                command.revision(config, message="initial", autogenerate=True, rev_id="0001")
                conn.rollback()
        except BaseException:
            if aside.exists():
                shutil.move(aside, INITIAL)
            raise
        finally:
            store.dispose()
    _tidy(INITIAL)
    return INITIAL


def _tidy(path: Path) -> None:
    """Drop Alembic's "please adjust" banners, then let ruff format the file and sort its imports."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.lstrip().startswith("# ###")), encoding="utf-8")
    for args in (["format", "--quiet"], ["check", "--fix", "--quiet"]):
        try:
            subprocess.run([sys.executable, "-m", "ruff", *args, str(path)], check=False, capture_output=True,
                           timeout=60)
        except (OSError, subprocess.SubprocessError):
            return


if __name__ == "__main__":
    print(regenerate())
