"""Starting, watching and stopping a training process, and the list of active runs kept between sessions.

The process runs the same command a user would type, in a new session (its own process group) so that it
survives the GUI; its stdout and stderr go to a console log next to the runs. Stop sends SIGINT to the group:
training writes a last snapshot and exits.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.shipped import REPO_ROOT  # `python -m core.train` runs from here

RUN_NAME_DIGITS = 5  # run folders are <NNNNN>-<preset>-<dataset>
CONSOLE_FOLDER = ".console"  # under the output folder: one stdout+stderr file per launch


@dataclass
class LaunchOptions:
    """What the training panel asks for; becomes the `python -m core.train` command line."""

    data: str = ""  # dataset folder, image zip or synth output
    preset: str = "tiny"  # generator size of a fresh run
    kimg: float = 1.0  # train until this many thousand real images
    outdir: str = ""  # parent folder of the run folders
    batch: int | None = None  # global batch; None = the trainer's default
    gpus: int = 1  # processes; above 1 the command is torchrun --nproc_per_node
    resume: str = ""  # run folder or snapshot to continue; empty = a fresh run
    extra_args: list[str] = field(default_factory=list)  # further options, e.g. ["--snap-ticks", "1"]


def build_command(options: LaunchOptions, python: str = sys.executable) -> list[str]:
    """The exact argument list of the training process."""
    if options.gpus > 1:
        launcher = [python, "-m", "torch.distributed.run", f"--nproc_per_node={options.gpus}", "-m", "core.train"]
    else:
        launcher = [python, "-m", "core.train"]
    arguments = ["--data", _absolute(options.data), "--preset", options.preset, "--kimg", f"{options.kimg:g}",
                 "--outdir", _absolute(options.outdir)]
    if options.batch is not None:
        arguments += ["--batch", str(options.batch)]
    if options.resume:
        arguments += ["--resume", _absolute(options.resume)]
    return launcher + arguments + list(options.extra_args)


def display_command(options: LaunchOptions) -> str:
    """The command as a user would type it (`python` / `torchrun` instead of the interpreter's path)."""
    command = build_command(options, python="python")
    if options.gpus > 1:
        command = ["torchrun", f"--nproc_per_node {options.gpus}"] + command[4:]
        return " ".join(command[:2] + [shlex.quote(part) for part in command[2:]])
    return " ".join(shlex.quote(part) for part in command)


def validate(options: LaunchOptions) -> list[str]:
    """Problems that make the launch pointless, each saying what to fill in."""
    problems = []
    if not options.data.strip():
        problems.append("choose a dataset folder")
    if not options.outdir.strip():
        problems.append("choose an output folder for the runs")
    if options.kimg <= 0:
        problems.append("kimg must be above 0")
    if options.batch is not None and options.batch % max(options.gpus, 1):
        problems.append(f"batch {options.batch} must be a multiple of the number of GPUs ({options.gpus})")
    return problems


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if path else path


@dataclass
class RunRecord:
    """One launched training, as remembered in the active-runs file."""

    pid: int  # process id (also its process group id: it leads a new session)
    command: list[str]  # the argument list it runs
    outdir: str  # parent folder of its run folder
    console_log: str  # its stdout and stderr
    started: float  # time.time() at launch
    known_runs: list[str] = field(default_factory=list)  # run folders in outdir before the launch
    run_dir: str = ""  # its run folder once it appeared


class TrainingProcess:
    """A training process started here or found in the active-runs file."""

    def __init__(self, record: RunRecord, popen: subprocess.Popen | None = None):
        self.record = record
        self._popen = popen  # present when this GUI started it (gives the exit status)
        self.exit_code: int | None = None  # known only for processes started by this GUI

    @classmethod
    def launch(cls, options: LaunchOptions) -> "TrainingProcess":
        """Starts training in its own session; stdout and stderr go to `<outdir>/.console/<time>.log`."""
        outdir = Path(_absolute(options.outdir))
        console = outdir / CONSOLE_FOLDER / time.strftime("%Y%m%d-%H%M%S.log")
        console.parent.mkdir(parents=True, exist_ok=True)
        command = build_command(options)
        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        known = sorted(entry.name for entry in outdir.iterdir() if is_run_folder(entry))
        with open(console, "ab") as output:
            popen = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=output,
                                     stderr=subprocess.STDOUT, env=environment, start_new_session=True)
        record = RunRecord(pid=popen.pid, command=command, outdir=str(outdir), console_log=str(console),
                           started=time.time(), known_runs=known)
        return cls(record, popen)

    def alive(self) -> bool:
        """True while the process runs (reaps it when it was started here)."""
        if self._popen is not None:
            self.exit_code = self._popen.poll()
            return self.exit_code is None
        return process_alive(self.record.pid)

    def stop(self) -> bool:
        """SIGINT to the process group: training finishes the step, writes a snapshot and exits. False if gone."""
        try:
            os.killpg(self.record.pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def find_run_dir(self) -> Path | None:
        """The run folder this launch created (the first new one in outdir), once it exists."""
        if self.record.run_dir:
            return Path(self.record.run_dir)
        outdir = Path(self.record.outdir)
        if not outdir.is_dir():
            return None
        new = sorted(entry for entry in outdir.iterdir()
                     if is_run_folder(entry) and entry.name not in self.record.known_runs)
        if not new:
            return None
        self.record.run_dir = str(new[0])
        return new[0]


def is_run_folder(path: Path) -> bool:
    """`<NNNNN>-...` folders are run folders."""
    name = path.name
    return path.is_dir() and len(name) > RUN_NAME_DIGITS and name[:RUN_NAME_DIGITS].isdigit() \
        and name[RUN_NAME_DIGITS] == "-"


def process_alive(pid: int) -> bool:
    """Whether `pid` still runs a training (a reused pid running something else counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # no /proc (macOS): trust the signal test
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    if state == "Z":  # exited, not yet reaped by its parent
        return False
    # An empty command line is a process between fork and exec: give it the benefit of the doubt.
    return not cmdline or b"core.train" in cmdline


class ActiveRuns:
    """`<config dir>/training_runs.json`: launches that may still run, so the next session can attach."""

    def __init__(self, path: str | Path):
        self.path = Path(path)  # the JSON file (written atomically)

    def load(self) -> list[RunRecord]:
        """The remembered launches whose process still runs; a broken file is ignored with an empty list."""
        try:
            entries = json.loads(self.path.read_text())
            records = [RunRecord(**entry) for entry in entries]
        except FileNotFoundError:
            return []
        except (ValueError, TypeError):
            return []
        return [record for record in records if process_alive(record.pid)]

    def save(self, records: list[RunRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w") as stream:
                json.dump([asdict(record) for record in records], stream, indent=1)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
