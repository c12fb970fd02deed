"""Progress a person can read wherever the work runs: a terminal, JupyterLab, papermill's log, an
HTML export of an executed notebook.

``tqdm.auto`` draws widget bars in a notebook; papermill saves them without their widget state, so
an executed notebook shows frozen "0%" lines and its HTML export shows nothing. Here a terminal (an
interactive stderr) gets a live tqdm text bar; everywhere else progress is plain lines on stdout,
one every ``every`` seconds (30 by default) while the work lasts and one when it ends, so a saved
notebook reads as a log and ``papermill --log-output`` shows the same lines as they come.

    for batch in track(loader, "evaluating", total=len(loader)):
        ...
    bar = Progress(steps, "fnac epoch 3/5")
    bar.update()                  # per step: prints only when a line is due
    bar.set_note("loss 4.123")
    bar.close("validation cIoU 12.3%")
"""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

EVERY_SECONDS = 30.0  # at most one progress line this often while work goes on

T = TypeVar("T")


def interactive_terminal() -> bool:
    """True when stderr is a terminal that redraws a bar in place (not a notebook, a pipe or a log)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """Counts work done of ``total``; prints a line at most every ``every`` seconds and, unless
    ``leave`` is False and the work was quick, one when closed: ``desc: 64/128 (50%), 12 s, note``.

    ``leave=False`` is for short sub-steps (reading a few labels, one evaluation among many): they
    stay silent unless they take longer than ``every`` seconds.
    """

    def __init__(self, total: int | None, desc: str, enabled: bool = True, every: float = EVERY_SECONDS,
                 initial: int = 0, leave: bool = True, unit: str = "") -> None:
        self.total, self.desc, self.enabled, self.every, self.leave = total, desc, enabled, every, leave
        self.done, self.note, self.unit = initial, "", f" {unit}" if unit else ""
        self.start = self.last = time.monotonic()
        self.printed = False
        self.bar = None
        if enabled and interactive_terminal():
            from tqdm.std import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True)

    def set_note(self, note: str) -> None:
        """What goes at the end of the next line (e.g. the last logged loss)."""
        self.note = note
        if self.bar is not None:
            self.bar.set_postfix_str(note, refresh=False)

    def update(self, n: int = 1) -> None:
        """``n`` more done; prints a line when one is due."""
        self.done += n
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        finished = self.total is not None and self.done >= self.total  # close() says it
        if now - self.last >= self.every and not finished:
            self.last = now
            self._print(self.note)

    def close(self, summary: str | None = None) -> None:
        """End the work: a closing line with ``summary`` (default: the last note), unless the work
        was quick and ``leave`` is False."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        if self.leave or self.printed or summary is not None:
            self._print(self.note if summary is None else summary)

    def _print(self, note: str) -> None:
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        line = f"{self.desc}: {count}{self.unit}{share}, {time.monotonic() - self.start:.0f} s"
        print(f"{line}, {note}" if note else line, flush=True)
        self.printed = True

    def elapsed(self) -> float:
        """Seconds since the work started."""
        return time.monotonic() - self.start


def track(items: Iterable[T], desc: str, total: int | None = None, enabled: bool = True,
          every: float = EVERY_SECONDS, leave: bool = True, unit: str = "") -> Iterator[T]:
    """Yield ``items`` while a ``Progress`` counts them (``total`` defaults to ``len(items)``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    progress = Progress(total, desc, enabled, every, leave=leave, unit=unit)
    for item in items:
        yield item
        progress.update()
    progress.close()


def epoch_summary(history: list[dict], validation: list[dict], epoch: int) -> str:
    """``loss 4.123 (base 3.950), validation cIoU 12.5%, AUC 30.1%``: an epoch's mean logged loss
    and its validation scores (``training``'s history entries), for its one line per epoch."""
    logged = [entry for entry in history if entry["epoch"] == epoch]
    parts = [f"loss {sum(e['loss'] for e in logged) / len(logged):.3f} "
             f"(base {sum(e['base'] for e in logged) / len(logged):.3f})"] if logged else []
    scores = next((entry for entry in validation if entry["epoch"] == epoch), None)
    if scores is not None:
        parts.append(f"validation cIoU {100 * scores['cIoU']:.1f}%, AUC {100 * scores['AUC']:.1f}%")
    return ", ".join(parts)
