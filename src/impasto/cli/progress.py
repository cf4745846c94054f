"""The live view of `impasto run` on stderr: a bar per job (nodes done of those its outputs need) and one
for the running node's steps, with the node's title, the cached-node count, the elapsed time and an ETA.

On a terminal the bars redraw in place (rich); elsewhere (a log file, CI) one line per finished job is all
that is written, so logs stay readable. Previews are never drawn.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from impasto.cli.plan import Plan
from impasto.cli.tracking import JobRun, RunStatus

_STYLES = {
    RunStatus.COMPLETED: ("green", "completed"),
    RunStatus.FAILED: ("red", "failed"),
    RunStatus.INTERRUPTED: ("yellow", "interrupted"),
    RunStatus.REMOVED: ("yellow", "removed from the queue"),
}


class RunDisplay:
    def __init__(self, console: Console, plan: Plan, *, quiet: bool) -> None:
        self.console = console
        self.plan = plan
        self.quiet = quiet
        self.total = len(plan.items)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=quiet or not console.is_terminal,
            auto_refresh=True,
            refresh_per_second=8,
        )
        self._jobs: dict[str, TaskID] = {}
        self._steps = self.progress.add_task("", total=1, visible=False, detail="")

    def __enter__(self) -> RunDisplay:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def _name(self, run: JobRun) -> str:
        return f"job {run.item.index + 1}/{self.total}" if self.total > 1 else "job"

    def added(self, run: JobRun) -> None:
        needed = max(1, len(self.plan.needed))
        self._jobs[run.prompt_id] = self.progress.add_task(
            self._name(run), total=needed, detail="[dim]queued[/]", start=False
        )

    def update(self, run: JobRun) -> None:
        task = self._jobs.get(run.prompt_id)
        if task is None:
            return
        if run.status is RunStatus.RUNNING:
            self.progress.start_task(task)
        done = len((run.cached | run.finished) & self.plan.needed)
        if run.status is RunStatus.COMPLETED:
            done = len(self.plan.needed)
        detail = self._detail(run)
        self.progress.update(task, completed=done, detail=detail)
        if run.status.done:
            self.progress.stop_task(task)
        if run.status is RunStatus.RUNNING and run.step is not None and run.step[1] > 0:
            title = self.plan.titles.get(run.node or "", run.node or "")
            value, most = run.step
            self.progress.update(
                self._steps, description=f"  {escape(title)}", total=most, completed=value, visible=True, detail=""
            )
        elif run.status is not RunStatus.PENDING:
            self.progress.update(self._steps, visible=False)
            self.progress.reset(self._steps, visible=False)

    def _detail(self, run: JobRun) -> str:
        if run.status is RunStatus.PENDING:
            return "[dim]queued[/]"
        if run.status.done:
            style, word = _STYLES[run.status]
            return f"[{style}]{word}[/]"
        parts = []
        if run.node is not None:
            parts.append(escape(self.plan.titles.get(run.node, run.node)))
        cached = len(run.cached & self.plan.needed)
        if cached:
            parts.append(f"[dim]{cached} cached[/]")
        return " · ".join(parts)

    def ended(self, run: JobRun, files: list[str]) -> None:
        """One line per finished job, above the bars (or alone when there are no bars)."""
        if self.quiet:
            return
        style, word = _STYLES[run.status]
        took = f" in {run.elapsed:.2f} s" if run.elapsed is not None and run.status is not RunStatus.REMOVED else ""
        seeds = ", ".join(f"{k}={v}" for k, v in run.item.values.items())
        text = f"{self._name(run)} [{style}]{word}[/]{took}"
        if seeds:
            text += f" [dim]({escape(seeds)})[/]"
        if run.error is not None:
            node = run.error.get("node_id")
            title = self.plan.titles.get(str(node), str(run.error.get("node_type")))
            text += f"\n  node {node} ({escape(title)}): {escape(str(run.error.get('exception_message', '')).strip())}"
        for name in files:
            text += f"\n  {escape(name)}"
        self.progress.console.print(text)

    def notice(self, text: str) -> None:
        if not self.quiet:
            self.progress.console.print(text)
