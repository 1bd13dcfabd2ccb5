"""``forestall demo`` says where its board and data are, and keeps the data only when asked."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from forestall.broker import free_port
from programs.demo import Demo, DemoOptions


def run_demo(data_dir: Path | None) -> tuple[str, str, dict[str, object]]:
    options = DemoOptions(seconds=2.0, assets=2, customers=1, api_port=free_port(), data_dir=data_dir)
    out, err = io.StringIO(), io.StringIO()
    Demo(options, out=out, err=err).run()
    summary = json.loads(out.getvalue().splitlines()[-1])
    return out.getvalue(), err.getvalue(), summary


@pytest.mark.integration
def test_the_board_url_carries_the_key_and_a_temporary_folder_is_removed() -> None:
    out, err, summary = run_demo(None)
    key = re.search(r"^admin API key: (\S+)$", out, re.M)
    assert key, out
    assert re.search(rf"^board: http://127\.0\.0\.1:\d+/\?key={re.escape(key[1])}$", out, re.M), out
    data_dir = Path(str(summary["data_dir"]))
    assert f"data in {data_dir} (a temporary folder, removed on exit; --data-dir DIR keeps it)" in err
    assert summary["data_kept"] is False and not data_dir.exists()
    assert f"removed {data_dir}" in err


@pytest.mark.integration
def test_a_data_dir_is_kept(tmp_path: Path) -> None:
    _, err, summary = run_demo(tmp_path / "demo")
    assert f"data in {tmp_path / 'demo'} (kept)" in err and "removed" not in err
    assert summary["data_kept"] is True and (tmp_path / "demo" / "state.db").is_file()
