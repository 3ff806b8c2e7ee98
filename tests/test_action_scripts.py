"""The scripts behind the composite actions, run directly with the runner's files in a temp dir.

The act tests run them end to end; these cover the branches a real run rarely takes: a token that cannot
write the comment, and `mlgate gate` exiting 2 or 3 (a broken run, not a failed gate).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

ACTIONS = ROOT / "actions"
CML_STANDIN = ROOT / "tests" / "standins" / "setup-cml"
WATERMARK = "--watermark-title=mlgate report"
BROKEN = "this is a broken run, not a failed gate."


def runner_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The files and variables a GitHub runner gives a step."""
    for name in ("output", "summary"):
        (tmp_path / name).write_text("")
    (tmp_path / "temp").mkdir(exist_ok=True)
    return {
        **os.environ,
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "RUNNER_TEMP": str(tmp_path / "temp"),
        **extra,
    }


def outputs(tmp_path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())


def test_comment_that_cannot_be_written_warns_and_does_not_fail(tmp_path: Path) -> None:
    report = tmp_path / "temp" / "mlgate-report" / "report.md"
    report.parent.mkdir(parents=True)
    report.write_text("<!-- mlgate-report -->\nreport\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cml").symlink_to(CML_STANDIN / "cml")
    env = runner_env(
        tmp_path,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        MLGATE_STANDIN_RECORD=str(tmp_path / "record"),
        MLGATE_STANDIN_CML_EXIT="1",
        MLGATE_WATERMARK_TITLE="mlgate report",
        MLGATE_REPORT=str(report),
        REPO_TOKEN="read-only",
    )
    result = subprocess.run(
        ["bash", ACTIONS / "report" / "comment.sh"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "::warning title=mlgate report::the comment was not written (cml exited 1)" in result.stdout
    assert outputs(tmp_path) == {"commented": "false"}
    assert "cannot write to pull requests" in (tmp_path / "summary").read_text()
    assert "cannot write to pull requests" in (report.parent / "summary.md").read_text()
    args = (tmp_path / "record" / "cml" / "0" / "args").read_text().splitlines()
    assert args == [
        "comment",
        "update",
        "--target=pr",
        "--watermark-title=mlgate report",
        "--publish=false",
        str(report),
    ]


@pytest.mark.parametrize(
    ("code", "result", "annotation"),
    [
        (0, "passed", "::notice title=mlgate gate::all gates passed"),
        (1, "failed", "::error title=mlgate gate failed::gate says 50%25 done%0Asecond line"),
        (
            2,
            "broken",
            f"::error title=mlgate gate could not run (exit 2)::{BROKEN}",
        ),
        (
            3,
            "broken",
            f"::error title=mlgate gate could not run (exit 3)::{BROKEN}",
        ),
    ],
)
def test_gate_exit_code_becomes_a_result(tmp_path: Path, code: int, result: str, annotation: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mlgate"
    # A fake `mlgate` that prints two lines and exits with the code under test.
    fake.write_text(f"#!/usr/bin/env bash\necho 'gate says 50% done'\necho 'second line'\nexit {code}\n")
    fake.chmod(0o755)
    env = runner_env(tmp_path, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", MLGATE_BASE="abc123")
    run = subprocess.run(["bash", ACTIONS / "gate" / "gate.sh"], env=env, capture_output=True, text=True)
    assert run.returncode == code
    assert outputs(tmp_path) == {"result": result}
    assert annotation in run.stdout


def test_tokens_reach_git_through_the_environment_never_its_command_line(tmp_path: Path) -> None:
    """report.sh's fetch and retrain.sh's push go through git_with_token: the header is in GIT_CONFIG_*."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text(
        '#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "$RECORD.argv"\n'
        'printf "%s\\n" "${GIT_CONFIG_KEY_0:-}=${GIT_CONFIG_VALUE_0:-}" >> "$RECORD.env"\n'
    )
    fake.chmod(0o755)
    env = runner_env(
        tmp_path, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", RECORD=str(tmp_path / "git")
    )
    script = f'source "{ACTIONS}/lib/common.sh"; git_with_token sekrit-token fetch origin main'
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "sekrit" not in (tmp_path / "git.argv").read_text()
    assert "extraheader=AUTHORIZATION: basic " in (tmp_path / "git.env").read_text()
    for path in ACTIONS.rglob("*.sh"):
        text = path.read_text()
        assert "extraheader" not in text or path.name == "common.sh", path
        assert not any("git -c" in line and "http" in line for line in text.splitlines()), path


FAKE_MLGATE = """#!/usr/bin/env bash
echo "$*" >> "$RECORD"
case "$1 $2" in
  "gate --report") exit 1 ;;  # the gate fails
  "report --base") echo '{}' ;;
  "registry next-version") echo 3 ;;
  "registry show") exit 2 ;;  # no registry yet
  "build --model-version") printf 'example:abc\\n/tmp/bento\\nghcr.io/acme/example\\n' ;;
esac
"""


@pytest.mark.parametrize("override", ["", "hotfix for #12, approved by the on-call"])
def test_a_failed_gate_stops_prepare_before_the_build_unless_overridden(
    tmp_path: Path, override: str
) -> None:
    """actions/deploy/prepare.sh: `mlgate gate` exits 1 against the base; nothing is built, unless the
    deploy was dispatched with gate-override, which it then says."""
    bin_dir, repo = tmp_path / "bin", tmp_path / "repo"
    bin_dir.mkdir()
    for name, text in (("mlgate", FAKE_MLGATE), ("dvc", "#!/usr/bin/env bash\nexit 0\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "one"], cwd=repo, check=True)
    before = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "two"], cwd=repo, check=True)
    env = runner_env(
        tmp_path,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        RECORD=str(tmp_path / "calls"),
        MLGATE_INPUT_GATE_BASE=before,
        MLGATE_INPUT_GATE_OVERRIDE=override,
        MLGATE_INPUT_IMAGE="",
        MLGATE_INPUT_PR="",
    )
    run = subprocess.run(
        ["bash", ACTIONS / "deploy" / "prepare.sh"], cwd=repo, env=env, capture_output=True, text=True
    )
    calls = (tmp_path / "calls").read_text()
    assert f"report --base {before} --format json" in calls
    if override:
        assert run.returncode == 0, run.stderr
        assert (
            "::warning title=mlgate deploy::the gate failed against" in run.stdout and override in run.stdout
        )
        assert "build --model-version 3" in calls
    else:
        assert run.returncode == 1 and "::error title=mlgate deploy::the gate failed against" in run.stdout
        assert (
            "nothing was built or published" in run.stdout and "build" not in calls.split("gate --report")[1]
        )
