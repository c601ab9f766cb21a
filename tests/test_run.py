"""``tvcompat run COMMAND``: real processes only, no mocks.

Every command runs as ``sys.executable -m tvcompat run ...`` so the venv under test is the
one exercised. The Python processes it starts (the command, a ``subprocess`` child, a
``multiprocessing`` spawn child, ``torchrun``'s workers) each run :data:`PROBE`'s ``check()``,
which imports ``torchvision.models`` and prints one ``PROBE {json}`` line saying whether
tvcompat got installed: ``torchvision.models.resnet18(pretrained=False)`` warns on 0.13+
unless tvcompat is installed, and ``from torchvision.models import ResNet18_Weights`` fails
before 0.13 unless it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tvcompat._bootstrap import (
    BOOTSTRAP_DIR,
    OFF_VALUES,
    bootstrap_on_pythonpath,
    run_environment,
    run_state,
)
from tvcompat._versions import torch_version, torchvision_version

POSIX = sys.platform != "win32"
#: seconds any one command may take (a cold torch import on a busy machine is slow)
TIMEOUT = 180

PROBE = '''
"""Imported by the test's child processes: reports what tvcompat did to torchvision."""
import json
import os
import sys
import warnings


def check(label, **extra):
    import torchvision.models

    import tvcompat
    from tvcompat._bootstrap import hook_waiting

    with warnings.catch_warnings(record=True) as caught:
        torchvision.models.resnet18(pretrained=False)
    try:
        from torchvision.models import ResNet18_Weights  # noqa: F401
        weights_api = True
    except ImportError:
        weights_api = False
    report = {
        "label": label,
        "installed": tvcompat.is_installed(),
        "hook_waiting": hook_waiting(),
        "warnings": [str(w.message) for w in caught],
        "weights_api": weights_api,
        "argv": sys.argv,
        "pid": os.getpid(),
        **extra,
    }
    sys.stdout.flush()  # one write of one line: torchrun's ranks share the pipe
    os.write(sys.stdout.fileno(), ("PROBE " + json.dumps(report) + "\\n").encode())
    return report
'''


def base_env(**extra: str) -> dict[str, str]:
    """This environment without any ``tvcompat run`` in it (nor warnings-as-errors, which
    would turn torch's own import-time warnings into failures of the children)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TVCOMPAT_RUN", "PYTHONWARNINGS")}
    path = [p for p in env.pop("PYTHONPATH", "").split(os.pathsep) if p]
    path = [p for p in path if not bootstrap_on_pythonpath({"PYTHONPATH": p})]
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def tvcompat_run(
    *argv: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tvcompat", "run", *argv],
        cwd=cwd,
        env=base_env() if env is None else env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def probes(output: str) -> dict[str, dict[str, Any]]:
    """The ``PROBE`` reports in ``output``, by label."""
    found = {}
    for line in output.splitlines():
        if line.startswith("PROBE "):
            report = json.loads(line[len("PROBE ") :])
            found[report["label"]] = report
    return found


def assert_installed(report: dict[str, Any]) -> None:
    assert report["installed"], report
    assert not report["hook_waiting"], report  # the hook left sys.meta_path once it installed
    assert report["warnings"] == [], report
    assert report["weights_api"], report


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder with ``probe.py``, where the commands run."""
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


# --------------------------------------------------------------------------------------------
# Commands and what passes through
# --------------------------------------------------------------------------------------------


def test_a_script_sees_its_argv_and_its_exit_code_passes_through(work: Path) -> None:
    write(
        work,
        "script.py",
        """
        import sys
        import probe
        probe.check("script")
        sys.exit(3)
        """,
    )
    proc = tvcompat_run(sys.executable, "script.py", "a", "--b", "c", cwd=work)
    assert proc.returncode == 3, proc.stderr
    report = probes(proc.stdout)["script"]
    assert report["argv"] == ["script.py", "a", "--b", "c"]
    assert_installed(report)
    assert "Traceback" not in proc.stderr


def test_python_dash_m_a_package(work: Path) -> None:
    write(work, "pkg/__init__.py", "")
    write(
        work,
        "pkg/__main__.py",
        """
        import probe
        probe.check("pkg")
        """,
    )
    proc = tvcompat_run(sys.executable, "-m", "pkg", "--epochs", "3", cwd=work)
    assert proc.returncode == 0, proc.stderr
    report = probes(proc.stdout)["pkg"]
    assert report["argv"][1:] == ["--epochs", "3"]
    assert_installed(report)


def test_a_subprocess_child_inherits_it(work: Path) -> None:
    write(
        work,
        "parent.py",
        """
        import subprocess, sys
        code = "import probe; probe.check('child')"
        sys.exit(subprocess.run([sys.executable, "-c", code]).returncode)
        """,
    )
    proc = tvcompat_run(sys.executable, "parent.py", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert_installed(probes(proc.stdout)["child"])


def test_a_multiprocessing_spawn_child_inherits_it(work: Path) -> None:
    write(
        work,
        "spawner.py",
        """
        import multiprocessing, sys
        import probe

        if __name__ == "__main__":
            child = multiprocessing.get_context("spawn").Process(
                target=probe.check, args=("spawned",)
            )
            child.start()
            child.join()
            sys.exit(child.exitcode)
        """,
    )
    proc = tvcompat_run(sys.executable, "spawner.py", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert_installed(probes(proc.stdout)["spawned"])


def test_stdin_stdout_and_stderr_pass_through(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "data = sys.stdin.read()\n"
        "sys.stdout.write(data.upper())\n"
        "sys.stderr.write('to stderr\\n')\n"
    )
    proc = tvcompat_run(sys.executable, "-c", code, cwd=tmp_path, stdin="hello\nworld\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "HELLO\nWORLD\n"
    assert proc.stderr == "to stderr\n"


@pytest.mark.skipif(not POSIX, reason="on Windows the command is a child process")
def test_the_process_becomes_the_command(tmp_path: Path) -> None:
    """``os.execvpe``: the same process id, and a signal's exit status is the command's."""
    code = "import os, signal; print(os.getpid(), flush=True); os.kill(os.getpid(), signal.SIGTERM)"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tvcompat", "run", sys.executable, "-c", code],
        cwd=tmp_path,
        env=base_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=TIMEOUT)
    assert int(out) == proc.pid
    assert proc.returncode == -signal.SIGTERM


# --------------------------------------------------------------------------------------------
# The bootstrap: cheap start-up, chaining, opting out, failures
# --------------------------------------------------------------------------------------------

STARTUP = """
import builtins, json, os, sys
from tvcompat._bootstrap import BOOTSTRAP_DIR
heavy = sorted(m for m in ('tvcompat._install', 'torch', 'torchvision') if m in sys.modules)
print(json.dumps({
    "chained": getattr(builtins, "CHAINED", None),
    "sitecustomize": getattr(sys.modules.get("sitecustomize"), "__file__", None),
    "on_sys_path": BOOTSTRAP_DIR in sys.path,
    "pythonpath": os.environ.get("PYTHONPATH"),
    "TVCOMPAT_RUN": os.environ.get("TVCOMPAT_RUN"),
    "hooks": [repr(f) for f in sys.meta_path if getattr(f, "tvcompat_run_hook", False)],
    "heavy_at_startup": heavy,
}))
"""


def test_startup_is_cheap_and_an_existing_sitecustomize_still_runs(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    write(
        site_dir,
        "sitecustomize.py",
        """
        import builtins
        builtins.CHAINED = {"name": __name__, "file": __file__}
        """,
    )
    env = base_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site_dir), env.get("PYTHONPATH")]))
    proc = tvcompat_run(sys.executable, "-c", STARTUP, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    state = json.loads(proc.stdout)
    assert state["chained"] == {"name": "sitecustomize", "file": str(site_dir / "sitecustomize.py")}
    assert state["sitecustomize"] == str(site_dir / "sitecustomize.py")
    # the bootstrap folder leaves sys.path, stays first on PYTHONPATH for child processes
    assert not state["on_sys_path"]
    assert state["pythonpath"].split(os.pathsep)[:2] == [BOOTSTRAP_DIR, str(site_dir)]
    assert state["TVCOMPAT_RUN"] == "1"
    # nothing heavy happens until torchvision is imported: only the hook waits
    assert len(state["hooks"]) == 1
    assert state["heavy_at_startup"] == []


def test_an_error_in_the_existing_sitecustomize_is_reported_as_python_would(
    tmp_path: Path,
) -> None:
    site_dir = tmp_path / "site"
    write(site_dir, "sitecustomize.py", "raise RuntimeError('broken on purpose')\n")
    env = base_env(PYTHONPATH=str(site_dir))
    plain = subprocess.run(
        [sys.executable, "-c", "print('runs')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    proc = tvcompat_run(sys.executable, "-c", STARTUP, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Error in sitecustomize" in plain.stderr  # what Python says without tvcompat run
    # once in the tvcompat process (a Python with that PYTHONPATH too), once in the command
    assert proc.stderr.count("Error in sitecustomize") == 2
    assert "RuntimeError: broken on purpose" in proc.stderr
    assert len(json.loads(proc.stdout)["hooks"]) == 1  # the hook is armed all the same


def test_opting_out_and_a_failing_install_never_break_the_child(work: Path) -> None:
    broken = work / "broken"
    write(broken, "tvcompat/__init__.py", "raise RuntimeError('tvcompat broken on purpose')\n")
    write(
        work,
        "parent.py",
        """
        import os, subprocess, sys
        env = {**os.environ, "TVCOMPAT_RUN": "0"}
        code = "import probe; probe.check('opted-out')"
        assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
        # a Python where `import tvcompat` fails: torchvision still imports, one warning line
        env = {**os.environ, "PYTHONPATH": "broken" + os.pathsep + os.environ["PYTHONPATH"]}
        code = "import torchvision.models; print('STILL RUNS', flush=True)"
        sys.exit(subprocess.run([sys.executable, "-c", code], env=env).returncode)
        """,
    )
    proc = tvcompat_run(sys.executable, "parent.py", cwd=work)
    assert proc.returncode == 0, proc.stderr
    opted_out = probes(proc.stdout)["opted-out"]
    assert not opted_out["installed"]
    assert not opted_out["hook_waiting"]
    assert "STILL RUNS" in proc.stdout
    warning = [line for line in proc.stderr.splitlines() if line.startswith("tvcompat run:")]
    assert warning == [
        f"tvcompat run: warning: torchvision runs without tvcompat in {sys.executable}: "
        "RuntimeError: tvcompat broken on purpose"
    ]
    assert "Traceback" not in proc.stderr


def test_without_tvcompat_run_nothing_changes(work: Path) -> None:
    write(work, "plain.py", "import probe\nprobe.check('plain')\n")
    proc = subprocess.run(
        [sys.executable, "plain.py"],
        cwd=work,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = probes(proc.stdout)["plain"]
    assert not report["installed"]
    assert not report["hook_waiting"]
    if torchvision_version().release[:2] >= (0, 13):
        assert any("pretrained" in w for w in report["warnings"]), report
    else:
        assert not report["weights_api"]


# --------------------------------------------------------------------------------------------
# torchrun
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun() -> list[str]:
    """The venv's ``torchrun`` script (a console script: not ``python`` itself) if it has one,
    else ``python -m torch.distributed.run`` (torch 1.9)."""
    script = Path(sys.executable).with_name("torchrun.exe" if not POSIX else "torchrun")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "torch.distributed.run"]


def _launcher_segfaults_at_exit() -> bool:
    return POSIX and torch_version().release[:2] == (1, 11) and sys.version_info >= (3, 10)


def test_torchrun_two_gloo_ranks(work: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    write(
        work,
        "train.py",
        """
        import datetime
        import torch
        import torch.distributed as dist
        import probe

        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
        total = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(total)
        probe.check(f"rank{dist.get_rank()}", world=dist.get_world_size(), total=total.item())
        dist.barrier()
        dist.destroy_process_group()
        """,
    )
    env = base_env(MASTER_ADDR="127.0.0.1", GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    command = [
        *_torchrun(),
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--max_restarts",
        "0",
        "--monitor_interval",
        "1",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "train.py",
        "--epochs",
        "3",
    ]
    proc = tvcompat_run(*command, cwd=work, env=env)
    if _launcher_segfaults_at_exit() and proc.returncode == -signal.SIGSEGV:
        # pytorch/pytorch#72086: torch 1.11's launcher crashes in its exit barrier on Python
        # 3.10 (a plain torchrun does too); the workers have finished, their reports stand
        assert "_exit_barrier" in proc.stderr, proc.stderr
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = probes(proc.stdout)
    assert sorted(reports) == ["rank0", "rank1"], proc.stdout + proc.stderr
    for report in reports.values():
        assert_installed(report)
        assert report["world"] == 2
        assert report["total"] == 3.0
        assert report["argv"][1:] == ["--epochs", "3"]


# --------------------------------------------------------------------------------------------
# Errors, --print-env, doctor
# --------------------------------------------------------------------------------------------


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    proc = tvcompat_run(cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: tvcompat run")
    assert "tvcompat run: error: no command given" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_command_not_found_exits_127(tmp_path: Path) -> None:
    proc = tvcompat_run("tvcompat-no-such-command", "--flag", cwd=tmp_path)
    assert proc.returncode == 127
    assert proc.stderr == "tvcompat run: error: command not found: tvcompat-no-such-command\n"


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_a_file_that_cannot_be_executed_exits_126(tmp_path: Path) -> None:
    script = write(tmp_path, "not-executable.sh", "echo hi\n")
    script.chmod(0o644)
    proc = tvcompat_run(str(script), cwd=tmp_path)
    assert proc.returncode == 126
    assert proc.stderr.startswith(f"tvcompat run: error: cannot execute {script}: ")
    assert "Traceback" not in proc.stderr


def test_print_env(tmp_path: Path) -> None:
    proc = tvcompat_run("--print-env", cwd=tmp_path, env=base_env(PYTHONPATH="/a"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"export PYTHONPATH={BOOTSTRAP_DIR}{os.pathsep}/a",
        "export TVCOMPAT_RUN=1",
    ]
    proc = tvcompat_run("--print-env", "python", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--print-env takes no command" in proc.stderr


def test_run_environment() -> None:
    sep = os.pathsep
    assert run_environment({}) == {"PYTHONPATH": BOOTSTRAP_DIR, "TVCOMPAT_RUN": "1"}
    assert run_environment({"PYTHONPATH": ""})["PYTHONPATH"] == BOOTSTRAP_DIR
    # the other entries are kept as they are, empty ones (the working directory) included
    assert run_environment({"PYTHONPATH": f"/a{sep}{sep}/b"})["PYTHONPATH"] == sep.join(
        [BOOTSTRAP_DIR, "/a", "", "/b"]
    )
    # nested `tvcompat run`: the bootstrap once, first
    nested = run_environment({"PYTHONPATH": f"/a{sep}{BOOTSTRAP_DIR}"})["PYTHONPATH"]
    assert nested == sep.join([BOOTSTRAP_DIR, "/a"])
    assert run_environment({"PYTHONPATH": BOOTSTRAP_DIR})["PYTHONPATH"] == BOOTSTRAP_DIR


def test_the_bootstrap_does_nothing_under_its_package_name() -> None:
    before = list(sys.meta_path)
    from tvcompat._bootstrap import sitecustomize

    assert sys.meta_path == before
    assert sitecustomize.OFF_VALUES == OFF_VALUES
    assert os.path.normcase(BOOTSTRAP_DIR) == sitecustomize.HERE


def test_run_state() -> None:
    state = run_state({"PYTHONPATH": BOOTSTRAP_DIR, "TVCOMPAT_RUN": "1"})
    assert state["tvcompat_run"]
    assert state["bootstrap_on_pythonpath"]
    state = run_state({"PYTHONPATH": BOOTSTRAP_DIR, "TVCOMPAT_RUN": "0"})
    assert not state["tvcompat_run"]
    assert state["bootstrap_on_pythonpath"]
    assert not run_state({})["tvcompat_run"]
    import tvcompat

    with tvcompat.installed():
        assert run_state()["installed"]


def test_doctor_tells_a_tvcompat_run_environment(tmp_path: Path) -> None:
    proc = tvcompat_run(sys.executable, "-m", "tvcompat", "doctor", "--json", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a problem elsewhere in this machine
    state = json.loads(proc.stdout)["install"]
    assert state == {
        "installed": False,  # the doctor never imports torchvision
        "tvcompat_run": True,
        "bootstrap": BOOTSTRAP_DIR,
        "bootstrap_on_pythonpath": True,
        "TVCOMPAT_RUN": "1",
        "hook_waiting": True,
    }
    proc = tvcompat_run(sys.executable, "-m", "tvcompat", "doctor", cwd=tmp_path)
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert [
        "tvcompat",
        "run",
        "environment",
        "yes",
        f"({BOOTSTRAP_DIR}",
        "on",
        "PYTHONPATH)",
    ] in lines
    assert "no (tvcompat run: installs when torchvision is imported)" in proc.stdout
    plain = subprocess.run(
        [sys.executable, "-m", "tvcompat", "doctor", "--json"],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    state = json.loads(plain.stdout)["install"]
    assert not state["tvcompat_run"]
    assert not state["hook_waiting"]
