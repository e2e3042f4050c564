"""README's "Going to a Milvus cluster" commands, run as written against a local Milvus server
(the C++ server of milvus-lite 2.5.1) in place of http://localhost:19530."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from embedb.cli import cli

from milvus_server import milvus25_target  # noqa: F401

README = Path(__file__).resolve().parents[1] / "README.md"
README_URI = "http://localhost:19530"


def section_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Going to a Milvus cluster"):]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_cluster_commands_run_against_a_server(milvus25_target, tmp_path, monkeypatch):
    commands = section_commands()
    assert commands[0] == 'pip install "embedb[remote]"'  # installed by the test environment
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "turing.md").write_text("Alan Turing was born in Maida Vale, London.\n", encoding="utf-8")
    (notes / "cats.md").write_text("Cats sleep for most of the day.\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", "notes", "--db", "notes.db", "-q"]).exit_code == 0
    outputs = []
    for command in commands[1:]:
        argv = shlex.split(command.replace(README_URI, milvus25_target.uri))
        assert argv[0] == "embedb"
        result = runner.invoke(cli, argv[1:])
        assert result.exit_code == 0, (command, result.output)
        outputs.append(result.output)
    assert "docs" in outputs[0] and "2" in outputs[0]          # the plan
    assert "ok" in outputs[1]                                  # copied and verified
    assert outputs[2].index("Turing") < outputs[2].index("Cats")  # the best hit first, from the server
    assert "ok" in outputs[3] and (tmp_path / "notes-copy.db").exists()
