"""Letters per second: relance against the naive peer (bench/peer.py), on the same cases.

    python bench/throughput.py [--cases 2000] [--rounds 3] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
    python bench/throughput.py --cases 20000 --no-peer   # a monthly batch: relance's four configurations alone

One portfolio of ``--cases`` B2B debtors, one overdue invoice each (tests.support.write_portfolio), so a
run on 2025-01-20 writes one first reminder per case. Each round runs, interleaved, on a fresh workspace
and database each time (PostgreSQL databases are created for the run and dropped after it): the peer on
SQLite, relance on SQLite with 1 process and with all cores (`--workers $(nproc)`: on SQLite, the
run and nproc - 1 letter-rendering processes), the peer on
PostgreSQL, relance on PostgreSQL with 1 and 2 workers. The whole `relance run` (or peer) subprocess is
timed, process start included; setup (init, db upgrade, import) is not.

Prints one line per run, then for each configuration the median letters/s over the rounds, relance's per-phase
seconds (when its run JSON has a "phases" object), where the cores went (on Linux, in core-seconds: the
command's own processes, the rest of the machine such as the database server, and idle cores: what a ratio of
wall times cannot show), the ratios against their targets with PASS/MISS (relance SQLite against the peer >=
10x, in one process and with one writer and all cores; SQLite all cores / nproc >= 400 letters/s per core;
PostgreSQL 2 workers / 1 worker >= 1.7x, also round by round) and the most 2 workers could gain on this
machine (nproc over the cores one worker keeps busy, its database server's included), a warning if relance and
the peer wrote different numbers of letters, and the exact commands of each configuration's first round.
Workspaces go under $TMPDIR. What the file system alone costs there is measured before and after the
rounds and printed: the CPU time of a letter's file operations without any rendering (two new folders, a
letter-sized file written under a temporary name and renamed), and the share of a core that costs at the
per-core target. On one machine it ranged from 0.03 to 1.7 ms a letter on the same ext4 disk, all of it in
the kernel, and perf named the cause: that ext4 has no journal, and without one, allocating an inode skips
every inode freed in the last 60 s (360 s while its inode table block is dirty), reading each one's deletion
time (`recently_deleted`, fs/ext4/ialloc.c). So a run started within minutes of deleting thousands of files
(an earlier bench's workspaces, say) paid 0.3 to 0.8 ms for each new folder and file; a few minutes later,
0.03 to 0.1 ms. Nothing is deleted until every round is done (workspaces stay, the probe's files too; only
the PostgreSQL databases are dropped as the rounds go), and a first probe above 0.3 ms a letter is flagged.

What the cores give together is measured too, before and after the rounds: the same CPU-bound Python
(dicts, JSON, SHA-256) in one process, then in one process per core at once (cpu_parallelism). On a machine
whose cores are its own, N processes do N times the work of one; on a shared host they may do much less, and
then no configuration can scale past that figure, which the PostgreSQL ceiling below takes into account.

The engine's bytecode is compiled first, as installing a wheel does: where PYTHONDONTWRITEBYTECODE is set
(it was on the machine these figures come from), every process would otherwise compile the engine's
source again, about 0.15 s of its start.
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Python puts bench/ first on sys.path, where bench/engine.py would shadow the engine package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

from tests.support import create_postgres_database, drop_postgres_database, write_portfolio  # noqa: E402

RELANCE = str(Path(sys.executable).parent / "relance")
PEER = str(Path(__file__).resolve().parent / "peer.py")
AS_OF = "2025-01-20"
CORES = len(os.sched_getaffinity(0))  # what nproc prints
PER_CORE_TARGET, PEER_TARGET, PG_SPEEDUP_TARGET = 400.0, 10.0, 1.7
SLOW_FILE_SYSTEM = 0.3e-3  # CPU seconds a letter's file operations; 0.03-0.1 ms when nothing was just deleted
_SERIAL = itertools.count()


@dataclass(frozen=True)
class Config:
    label: str
    program: str  # "relance" or "peer"
    backend: str  # "sqlite" or "pg"
    workers: int = 1


@dataclass(frozen=True)
class Cpu:
    """Where the machine's cores went while one command ran, in core-seconds."""

    own: float  # the command's processes (user + system), its forked workers and renderers included
    rest: float  # everything else busy meanwhile: the database server, the kernel's own threads
    idle: float  # cores nobody used (waiting on each other, on the disk, or a serial part)


@dataclass
class Result:
    letters: int
    seconds: float
    phases: dict[str, float] | None
    cpu: Cpu | None = None


class Unavailable(Exception):
    """A command refused or failed: the configuration is reported as unavailable."""


@dataclass
class Tally:
    results: list[Result] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    unavailable: str | None = None

    def rate(self) -> float | None:
        return statistics.median(r.letters / r.seconds for r in self.results) if self.results else None


SQLITE_1, SQLITE_ALL = "relance SQLite, 1 process", f"relance SQLite, {CORES} processes (run + renderers)"
PG_1, PG_2, PEER_SQLITE, PEER_PG = "relance PostgreSQL, 1 worker", "relance PostgreSQL, 2 workers", \
    "peer SQLite", "peer PostgreSQL"
CONFIGS = (Config(PEER_SQLITE, "peer", "sqlite"), Config(SQLITE_1, "relance", "sqlite", 1),
           Config(SQLITE_ALL, "relance", "sqlite", CORES), Config(PEER_PG, "peer", "pg"),
           Config(PG_1, "relance", "pg", 1), Config(PG_2, "relance", "pg", 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-peer", action="store_true",
                        help="relance's four configurations alone (the peer takes a minute per 2,000 letters): for "
                             "portfolios the size of a monthly batch, e.g. --cases 20000")
    args = parser.parse_args()
    configs = [config for config in CONFIGS if not (args.no_peer and config.program == "peer")]
    import engine

    compileall.compile_dir(Path(engine.__file__).parent, quiet=1)
    root = Path(tempfile.mkdtemp(prefix="relance-throughput-"))
    csvs = write_portfolio(root / "portfolio", args.cases)
    print(f"{args.cases} cases, {args.rounds} round(s), {CORES} core(s), as of {AS_OF}, under {root}")
    file_system = [file_system_cost(root)]
    parallelism = [cpu_parallelism()]
    if file_system[0] > SLOW_FILE_SYSTEM:
        print(f"warning: a letter's file operations cost {file_system[0] * 1000:.2f} ms of CPU here; were many "
              "files deleted on this file system in the last few minutes? (see this script's docstring)")
    tallies = {config.label: Tally() for config in configs}
    for round_no in range(1, args.rounds + 1):
        for config in configs:
            tally = tallies[config.label]
            if tally.unavailable is not None:
                continue
            folder = root / f"round{round_no}-{next(_SERIAL)}"
            commands: list[list[str]] = []
            try:
                result = measure(config, folder, csvs, args.pg, commands)
            except Unavailable as why:
                tally.unavailable = str(why)
                print(f"round {round_no} {config.label:<38} unavailable: {why}")
                continue
            finally:
                if not tally.commands:
                    tally.commands = [shlex.join(command) for command in commands]
            tally.results.append(result)
            cpu = result.cpu
            print(f"round {round_no} {config.label:<38} {result.letters:6d} letters in {result.seconds:6.2f} s "
                  f"= {result.letters / result.seconds:7.1f} letters/s"
                  + (f"  (core-s: own {cpu.own:.2f}, rest {cpu.rest:.2f}, idle {cpu.idle:.2f})" if cpu else ""))
    file_system.append(file_system_cost(root))
    parallelism.append(cpu_parallelism())
    report(tallies, args.cases, root, file_system, parallelism)
    for probe in root.glob("file-system-*"):
        shutil.rmtree(probe)  # only now: freed inodes would have slowed every later file's creation


def file_system_cost(root: Path, letters: int = 500, size: int = 32 * 1024) -> float:
    """CPU seconds (user + system) a letter's file operations take under ``root``, nothing rendered: two new
    folders (debtor, case), a ``size``-byte file written under a temporary name, its mode set, renamed, as a
    run writes each letter (engine.letters.render.write_letter; the batch's sync is left out). The files stay:
    the caller removes them after the last run."""
    probe = Path(tempfile.mkdtemp(prefix="file-system-", dir=root))
    content = os.urandom(size)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for number in range(letters):
        folder = probe / f"debtor-{number}" / f"case-{number}"
        folder.mkdir(parents=True)
        temporary = folder / ".letter.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, folder / "01-reminder1.docx")
    after = resource.getrusage(resource.RUSAGE_SELF)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / letters


def cpu_parallelism(tries: int = 3) -> float:
    """How many times the work of one process CORES processes do at once, each running the same CPU-bound
    Python (building dicts, JSON, SHA-256: what a run does most); the median of ``tries``. CORES on a machine
    whose cores are its own; less where they share a physical core or a busy host. No configuration can
    gain more than this over one process, whatever the software does."""
    speedups = []
    for _ in range(tries):
        alone = _spin_seconds(1)
        together = _spin_seconds(CORES)
        speedups.append(CORES * alone / together)
    return statistics.median(speedups)


# One process's share of the probe: about 0.3 s of CPU on the machine these figures come from.
_SPIN = ("import hashlib, json\n"
         "case = {'ref': 'CLI-0001', 'amounts': ['12.50', '40.00'], 'on': '2025-01-20', 'steps': list(range(8))}\n"
         "for number in range(40000):\n"
         "    case['seq'] = number\n"
         "    hashlib.sha256(json.dumps(case, sort_keys=True).encode()).hexdigest()\n")


def _spin_seconds(processes: int) -> float:
    """Wall seconds for ``processes`` copies of the probe started together (interpreter start included)."""
    began = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(processes)]
    for process in running:
        process.wait()
    return time.perf_counter() - began


def measure(config: Config, folder: Path, csvs: list[Path], pg_admin: str, commands: list[list[str]]) -> Result:
    """One run of ``config`` on a fresh workspace (relance) or output folder (peer) and database."""
    folder.mkdir(parents=True)
    url = (f"sqlite:///{folder / 'bench.sqlite'}" if config.backend == "sqlite"
           else create_postgres_database(pg_admin, "relance_throughput"))
    try:
        if config.program == "peer":
            command = [sys.executable, PEER, "--db", url, "--csv", str(csvs[0].parent), "--out",
                       str(folder / "letters"), "--as-of", AS_OF]
            commands.append(command)
            done, seconds, cpu = _timed(command)
            if done.returncode != 0:
                raise Unavailable(_last_line(done.stderr))
            return Result(json.loads(done.stdout.strip().splitlines()[-1])["letters"], seconds, None, cpu)
        workspace = folder / "workspace"
        for setup in (["init", str(workspace)], ["--db", url, "--workspace", str(workspace), "db", "upgrade"],
                      ["--db", url, "--workspace", str(workspace), "import", *map(str, csvs)]):
            commands.append([RELANCE, *setup])
            done = subprocess.run(commands[-1], capture_output=True, text=True)
            if done.returncode != 0:
                raise Unavailable(f"{setup[-1]}: {_last_line(done.stderr or done.stdout)}")
        command = [RELANCE, "--db", url, "--workspace", str(workspace), "run", "--workers", str(config.workers),
                   "--as-of", AS_OF, "--json"]
        commands.append(command)
        done, seconds, cpu = _timed(command)
        try:
            totals = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise Unavailable(_last_line(done.stderr or done.stdout) or f"exit {done.returncode}") from None
        if totals.get("errors"):
            print(f"warning: {config.label}: {len(totals['errors'])} case(s) failed, e.g. {totals['errors'][0]}")
        phases = totals.get("phases")
        return Result(int(totals["letters"]), seconds, dict(phases) if isinstance(phases, dict) else None, cpu)
    finally:
        if config.backend == "pg":
            drop_postgres_database(pg_admin, url)


def report(tallies: dict[str, Tally], cases: int, root: Path, file_system: list[float], parallelism: list[float]
           ) -> None:
    print("\nmedian letters/s (whole subprocess timed, process start included)")
    for label, tally in tallies.items():
        rate = tally.rate()
        figure = f"{rate:8.1f}" if rate is not None else "unavailable"
        seconds = statistics.median(r.seconds for r in tally.results) if tally.results else None
        detail = f"  (median {seconds:.2f} s, {len(tally.results)} run(s))" if seconds else f"  ({tally.unavailable})"
        print(f"  {label:<40} {figure}{detail}")
    print("\nrelance per-phase seconds (median over rounds)")
    for label, tally in tallies.items():
        if not label.startswith("relance") or not tally.results:
            continue
        reported = [r.phases for r in tally.results if r.phases]
        if not reported:
            print(f"  {label}: phases: not reported by this version")
            continue
        names = list(dict.fromkeys(name for phases in reported for name in phases))
        medians = {n: statistics.median(float(p[n]) for p in reported if isinstance(p.get(n), (int, float)))
                   for n in names if any(isinstance(p.get(n), (int, float)) for p in reported)}
        print(f"  {label}: " + ", ".join(f"{name} {value:.2f}" for name, value in medians.items()))
    print(f"\nCPU, core-seconds (median over rounds; {CORES} cores x wall = own + rest + idle)")
    for label, tally in tallies.items():
        used = [r.cpu for r in tally.results if r.cpu is not None]
        if used:
            own, rest, idle = (statistics.median(getattr(c, name) for c in used) for name in ("own", "rest", "idle"))
            print(f"  {label:<40} own {own:6.2f}  rest of the machine {rest:5.2f}  idle {idle:5.2f}")
    rates = {label: tally.rate() for label, tally in tallies.items()}
    print("\nratios")
    _ratio("relance SQLite 1 process / peer SQLite", rates[SQLITE_1], rates.get(PEER_SQLITE), PEER_TARGET, "x")
    _ratio(f"relance SQLite {CORES} processes / peer", rates[SQLITE_ALL], rates.get(PEER_SQLITE), PEER_TARGET,
           "x")
    _ratio(f"letters/s per core (SQLite all cores / {CORES})", rates[SQLITE_ALL], CORES, PER_CORE_TARGET, "")
    _ratio("PostgreSQL 2 workers / 1 worker", rates[PG_2], rates[PG_1], PG_SPEEDUP_TARGET, "x")
    _by_round("PostgreSQL 2 workers / 1 worker", tallies[PG_2], tallies[PG_1])
    _ceiling(tallies[PG_1], min(parallelism))
    print(f"  {'(' + str(CORES) + ' CPU-bound processes at once':<48} "
          + " and ".join(f"{speedup:.2f}x" for speedup in parallelism)
          + f" the work of one, before and after the rounds (ideal {CORES}x): what the cores give together)")
    share = max(file_system) * PER_CORE_TARGET
    print(f"  {'(file system under ' + str(root) + ')':<48} "
          + " and ".join(f"{cost * 1000:.2f}" for cost in file_system)
          + f" ms of CPU a letter before and after the rounds, nothing rendered: at {PER_CORE_TARGET:g} letters/s"
          f" that alone is {share:.0%} of a core")
    counts = {label: {r.letters for r in tally.results} for label, tally in tallies.items() if tally.results}
    peer = counts.get(PEER_SQLITE, set()) | counts.get(PEER_PG, set())
    if PEER_SQLITE not in tallies:  # --no-peer: relance's configurations against each other
        peer = counts.get(SQLITE_1, set())
    mismatched = {label: sorted(c) for label, c in counts.items() if c != peer or len(c) != 1}
    if mismatched:
        print(f"\nwarning: relance and the peer did not write the same number of letters: {mismatched}")
    else:
        alike = "relance and peer alike" if PEER_SQLITE in tallies else "every configuration of relance"
        print(f"\nletters: every run wrote {peer.pop()} ({alike}; {cases} cases)")
    print("\ncommands (first round of each configuration; later rounds use fresh folders and databases)")
    for label, tally in tallies.items():
        print(f"  {label}:")
        for command in tally.commands:
            print(f"    {command}")


def _ratio(name: str, numerator: float | None, denominator: float | None, target: float, unit: str) -> None:
    if numerator is None or not denominator:
        print(f"  {name:<48} unavailable   (target >= {target:g}{unit})")
        return
    value = numerator / denominator
    verdict = "PASS" if value >= target else "MISS"
    print(f"  {name:<48} {value:8.2f}{unit or ' '}  (target >= {target:g}{unit}) {verdict}")


def _by_round(name: str, numerator: Tally, denominator: Tally) -> None:
    """The ratio within each round, where the two runs were next to each other in time: on a noisy machine the
    ratio of the medians can pair a fast round's run with a slow round's."""
    if len(numerator.results) != len(denominator.results):
        return  # one of them stopped after a failed round: its results no longer match round for round
    pairs = [a.letters / a.seconds / (b.letters / b.seconds)
             for a, b in zip(numerator.results, denominator.results, strict=True) if a.seconds and b.seconds]
    if len(pairs) > 1:
        print(f"  {'(' + name + ', round by round':<48} " + ", ".join(f"{ratio:.2f}x" for ratio in pairs) + ")")


def _ceiling(one_worker: Tally, parallelism: float) -> None:
    """What 2 workers could gain at best on this machine: one worker already keeps more than one core busy
    (its own process, and the database server in the rest of the machine), 2 workers have CORES cores, and
    those cores together do ``parallelism`` times the work of one (cpu_parallelism, the lower probe). One
    worker's cores beyond the first are counted at the rate the probe found for the cores beyond the first.
    Another load on the machine counts in the rest: run it quiet."""
    used = [(r.cpu.own + r.cpu.rest) / r.seconds for r in one_worker.results if r.cpu is not None and r.seconds]
    if not used:
        return
    busy = statistics.median(used)
    extra = (parallelism - 1) / (CORES - 1) if CORES > 1 else 0.0  # what each core beyond the first adds
    work = busy if busy <= 1 or CORES == 1 else 1 + (busy - 1) * extra  # one worker's, in single cores
    most = min(2.0, parallelism / work) if work > 0 else 2.0
    print(f"  {'(PostgreSQL 1 worker keeps':<48} {busy:8.2f}  cores busy (own + rest, median): 2 workers on {CORES} "
          f"core(s) gain at most about {most:.2f}x)")


def _timed(command: list[str]) -> tuple[subprocess.CompletedProcess[str], float, Cpu | None]:
    """The command's result, its wall seconds, and where the cores went meanwhile (Linux: /proc/stat for the
    machine, this process's waited-for children for the command; None elsewhere)."""
    machine, children = _machine_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    after, children_after = _machine_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
    if machine is None or after is None:
        return done, seconds, None
    own = (children_after.ru_utime - children.ru_utime) + (children_after.ru_stime - children.ru_stime)
    busy, idle = ((later - earlier) / _TICKS for earlier, later in zip(machine, after, strict=True))
    return done, seconds, Cpu(own=own, rest=max(busy - own, 0.0), idle=idle)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, idle) clock ticks of all cores since boot, from /proc/stat; None where there is no such file."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq + steal, idle + iowait


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


if __name__ == "__main__":
    main()
