"""`churn password` (written in the CLI, which does not import serving) makes hashes the sign-in accepts."""

from typer.testing import CliRunner

from pipelines.cli.app import app
from serving.pages import check_password, hash_password


def test_cli_hash_is_accepted_by_the_sign_in_and_only_for_its_password() -> None:
    result = CliRunner().invoke(app, ["password", "--password", "correct horse"])
    assert result.exit_code == 0, result.output
    stored = result.output.strip().splitlines()[-1]
    assert stored.startswith("pbkdf2$200000$")
    assert check_password(stored, "correct horse")
    assert not check_password(stored, "correct horse ")
    assert not check_password("not-a-hash", "correct horse")
    assert check_password(hash_password("x"), "x") and not check_password(hash_password("x"), "y")
