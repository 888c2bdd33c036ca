"""Where the time goes: the cProfile files of a profiled run (`python -m bench --profile gateway,poller`)
summed by library and by function. `python -m bench.profiles DIR` prints them as Markdown.

Own time (cProfile's tottime) is summed by the library the function lives in, so that "httpcore's
pool bookkeeping" or "logging" is one line with its share of the process's profiled time; the
functions are listed by own time too. Time spent in C builtins is put under the library whose
Python function called them most, when cProfile names one caller; otherwise under `builtins`.
"""

import pstats
import re
import sys
from pathlib import Path
from typing import Any

# Longest match first; a path in site-packages is named by its top-level package.
_SITE = re.compile(r"site-packages/([A-Za-z0-9_]+)")
_OURS = re.compile(r"/(services|libs|tools)/([A-Za-z0-9_]+)/src/([A-Za-z0-9_]+)/(.*)")
_STDLIB = re.compile(r"/lib/python3\.\d+/([A-Za-z0-9_]+)")


def library(filename: str) -> str:
    """The library a profiled function belongs to, from its file name."""
    if filename == "~" or filename.startswith("<"):
        return "builtins"
    match = _SITE.search(filename)
    if match:
        return match.group(1)
    match = _OURS.search(filename)
    if match:
        return f"{match.group(3)}.{match.group(4).split('/')[0].removesuffix('.py')}"
    match = _STDLIB.search(filename)
    if match:
        return f"stdlib {match.group(1).removesuffix('.py')}"
    return Path(filename).name


def summarise(path: Path, top: int = 12) -> dict[str, Any]:
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    by_library: dict[str, float] = {}
    functions: list[tuple[float, float, str]] = []
    total = 0.0
    for (filename, line, name), (_, calls, own, cumulative, callers) in stats.items():
        total += own
        where = library(filename)
        if where == "builtins" and callers:
            # A C function belongs to whoever calls it most (json.dumps under pydantic, say).
            caller = max(callers.items(), key=lambda item: item[1][2])[0]
            where = library(caller[0])
        by_library[where] = by_library.get(where, 0.0) + own
        label = name if filename == "~" else f"{library(filename)}:{name}:{line}"
        functions.append((own, cumulative, f"{label} ({calls} calls)"))
    total = max(total, 1e-9)
    libraries = sorted(by_library.items(), key=lambda item: -item[1])
    return {
        "file": path.name,
        "seconds": round(total, 3),
        "libraries": [(name, round(own / total, 4)) for name, own in libraries[:top]],
        "functions": [(label, round(own / total, 4)) for own, _, label in sorted(functions, reverse=True)[:top]],
    }


def summarise_dir(directory: Path, top: int = 12) -> list[dict[str, Any]]:
    return [summarise(path, top) for path in sorted(directory.glob("*.prof"))]


def markdown(summaries: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for each in summaries:
        lines += [f"**{each['file']}** — {each['seconds']:.1f} s of profiled time", ""]
        lines += ["| library | share | | function (own time) | share |", "|---|---:|---|---|---:|"]
        rows = max(len(each["libraries"]), len(each["functions"]))
        for i in range(rows):
            lib = each["libraries"][i] if i < len(each["libraries"]) else ("", None)
            fun = each["functions"][i] if i < len(each["functions"]) else ("", None)
            lib_share = f"{lib[1] * 100:.1f} %" if lib[1] is not None else ""
            fun_share = f"{fun[1] * 100:.1f} %" if fun[1] is not None else ""
            lines.append(f"| {lib[0]} | {lib_share} | | `{fun[0]}` | {fun_share} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(summarise_dir(Path(sys.argv[1]))))
