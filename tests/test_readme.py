"""Every command the README shows exists: each `churn ...` line of its code blocks and tables names a real CLI
command (its --help runs), and each `make X` a real Makefile target, so the README cannot drift from the code."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def snippets() -> list[str]:
    """Lines of the fenced code blocks, and every inline code span outside them."""
    out, prose, fenced = [], [], False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            out.append(line)
        else:
            prose.append(line)
    return out + re.findall(r"`([^`\n]+)`", "\n".join(prose))


SNIPPETS = snippets()


def churn_commands() -> set[tuple[str, ...]]:
    """The command path of each `churn ...` invocation (words before the first option or argument)."""
    found = set()
    for text in SNIPPETS:
        for line in text.splitlines():
            m = re.search(r"(?:^|uv run |\.venv/bin/)churn ((?:[a-z-]+ ?)+)", line)
            if m:
                words = tuple(w for w in shlex.split(m.group(1)) if not w.startswith("-"))
                if words:
                    found.add(words)
    return found


def test_every_churn_command_in_the_readme_exists() -> None:
    commands = churn_commands()
    assert {("demo",), ("train",), ("serve",), ("features", "build")} <= commands  # the parse finds them
    runner = CliRunner()
    for words in sorted(commands):
        path = list(words)
        while path:  # drop trailing positional words (e.g. SOURCE) until a command answers --help
            result = runner.invoke(app, [*path, "--help"])
            if result.exit_code == 0 and "Usage" in result.output:
                break
            path.pop()
        assert path, f"README shows `churn {' '.join(words)}`, which is not a command of the CLI"
        assert path[0] == words[0]


def test_every_make_target_in_the_readme_exists() -> None:
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    shown = {m for text in SNIPPETS for m in re.findall(r"\bmake ([a-z]+)\b", text)}
    assert {"demo", "test"} <= shown
    assert shown <= targets, f"README shows make targets the Makefile lacks: {sorted(shown - targets)}"
