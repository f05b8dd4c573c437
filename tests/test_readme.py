"""Every command the README shows exists: each `churn ...` line of its code blocks and tables names a real CLI
command (its --help runs), and each `make X` a real Makefile target, so the README cannot drift from the code."""

import itertools
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def snippets() -> list[str]:
    """Lines of the fenced code blocks, and every inline code span outside them."""
    out, prose, fenced = [], [], False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and out and out[-1].endswith("\\"):  # a continued command line
            out[-1] = out[-1][:-1] + " " + line.strip()
        elif fenced:
            out.append(line)
        else:
            prose.append(line)
    return out + re.findall(r"`([^`\n]+)`", "\n".join(prose))


SNIPPETS = snippets()


def churn_commands() -> dict[tuple[str, ...], set[str]]:
    """The command path of each `churn ...` invocation (words before the first option or argument), with the
    options shown with it."""
    found: dict[tuple[str, ...], set[str]] = {}
    for text in SNIPPETS:
        for line in text.splitlines():
            m = re.search(r"(?:^|uv run |\.venv/bin/)churn ((?:[a-z-]+ ?)+)(.*)", line)
            if m:
                split = shlex.split(m.group(1))
                words = tuple(itertools.takewhile(lambda w: not w.startswith("-"), split))
                rest = m.group(1) + m.group(2).split("#")[0]
                options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest)) - {"--help"}
                if words:
                    found.setdefault(words, set()).update(options)
    return found


def test_every_churn_command_in_the_readme_exists() -> None:
    commands = churn_commands()
    assert {("demo",), ("train",), ("serve",), ("features", "build")} <= set(commands)  # the parse finds them
    assert "--engine" in commands[("features", "build")]
    runner = CliRunner()
    for words, options in sorted(commands.items()):
        path = list(words)
        while path:  # drop trailing positional words (e.g. SOURCE) until a command answers --help
            result = runner.invoke(app, [*path, "--help"], terminal_width=200)
            if result.exit_code == 0 and "Usage" in result.output:
                break
            path.pop()
        assert path, f"README shows `churn {' '.join(words)}`, which is not a command of the CLI"
        assert path[0] == words[0]
        unknown = {o for o in options if not re.search(rf"{o}(?![\w-])", result.output)}
        assert not unknown, f"README shows `churn {' '.join(path)}` with {sorted(unknown)}, which it does not take"


def test_the_readme_lists_every_setting() -> None:
    from pipelines.settings import Settings
    from serving.settings import ServingSettings

    table = {m for m in re.findall(r"^\| `(CHURN_[A-Z_]+)` \|", README, re.M)}
    fields = {f"CHURN_{n.upper()}" for cls in (Settings, ServingSettings) for n in cls.model_fields}
    assert fields == table, f"missing from the README: {sorted(fields - table)}; gone: {sorted(table - fields)}"


def test_every_make_target_in_the_readme_exists() -> None:
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    shown = {m for text in SNIPPETS for m in re.findall(r"\bmake ([a-z]+)\b", text)}
    assert {"demo", "test"} <= shown
    assert shown <= targets, f"README shows make targets the Makefile lacks: {sorted(shown - targets)}"
