"""Text that came from outside shown safely: params values, data values and names, production records.

Any such text may hold backticks, `@mentions`, HTML, links, emphasis, line breaks, control characters, or
a `::error::` that a GitHub runner would take as a workflow command. The markdown renderers put it through
`code_span` or `md_text`; everything the CLI prints goes through `ConsoleStream`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # every C0/C1 control but tab and line feed
TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")  # keeps \r and ESC
BREAKS = re.compile(r"[\r\n\u2028\u2029\u0085]+")
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*\[\]<>!#~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")  # `roc_auc` stays
LINE_START_MARKUP = re.compile(r"\A(\s*)([-+=]|\d+[.)])")  # a list item or a setext underline
LINE_START_COMMAND = re.compile(r"^([ \t]*)(::|##\[)", re.MULTILINE)  # runner commands: ::x:: and ##[x]
ZERO_WIDTH = "\u200b"


def one_line(text: object) -> str:
    """The text on one line: control characters removed, line breaks folded into a space."""
    return BREAKS.sub(" ", CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\t", " ")))


def code_span(text: object) -> str:
    """A markdown code span that holds `text` literally, whatever backticks it contains."""
    value = one_line(text)
    if not value:
        return "` `"  # an empty span is no code span at all
    runs = [len(run) for run in re.findall(r"`+", value)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if value.startswith(("`", " ")) or value.endswith(("`", " ")) else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def md_text(text: object) -> str:
    """Plain text for markdown: no emphasis, HTML, link, heading, list or mention can come out of it."""
    value = MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line(text))
    value = LINE_START_MARKUP.sub(lambda m: f"{m[1]}{m[2][:-1]}\\{m[2][-1]}", value)
    # A mention, a bare URL and `www.` links are not markdown syntax, so escapes cannot stop them.
    for mark in ("@", "://", "www."):
        value = value.replace(mark, mark[0] + ZERO_WIDTH + mark[1:])
    return value


def html_text(text: object) -> str:
    """Plain text inside an HTML element (a <summary>), on one line."""
    import html

    return html.escape(one_line(text))


def console_text(text: str, terminal: bool = False) -> str:
    """Text safe to print: no control characters (a terminal keeps \\r and ESC, which rich draws with) and
    no line that starts like a workflow command."""
    clean = (TERMINAL_CONTROL if terminal else CONTROL).sub("", text)
    return LINE_START_COMMAND.sub(lambda m: f"{m[1]}{m[2][0]}{ZERO_WIDTH}{m[2][1:]}", clean)


class ConsoleStream:
    """A text stream that passes everything written to it through `console_text`.

    A write starts a line as far as it knows; print() writes a whole message before its line feed.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._terminal = bool(getattr(stream, "isatty", lambda: False)())

    def write(self, text: str) -> int:
        self._stream.write(console_text(text, self._terminal))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def console_streams() -> Iterator[None]:
    """Route sys.stdout and sys.stderr through ConsoleStream while the block runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = ConsoleStream(saved[0]), ConsoleStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
