#!/usr/bin/env python3
"""Compares the README's printed outputs with a run of readme-figures.sh.

    scripts/readme_check.py OUT [README]

Every ```text block of the README that a figure prints is looked up in
the outputs OUT/NAME.txt that `scripts/readme-figures.sh OUT` wrote: a
block is current when its lines appear, in order and one after another,
in some figure's output. Wall times ("in 93.3 s on 2 threads") and the paths after "wrote" are left out of the
comparison: they change from run to run. A block no output contains is
shown as a diff against the output that shares most of its lines; a
block that no figure prints at all (say, an error message) is listed as
such. Exit code 1 if any block differs.

What this cannot see: the tables and prose the README builds from these
outputs by hand (the model sections' tables, the size ladder, the
verdicts by drain). Those are still read from OUT by eye.
"""

import difflib
import pathlib
import re
import sys

# A wall time: "in 93.3 s on 2 threads".
WALL = re.compile(r"\b\d+(\.\d+)? s(?= on \d+ threads?\b)")
# What follows "wrote": paths, which depend on `-o`.
WROTE = re.compile(r"\bwrote .*$")


def normal(line):
    """A line with its wall times and written paths masked."""
    line = WALL.sub("<s> s", line.rstrip())
    return WROTE.sub("wrote <paths>", line)


def blocks(readme):
    """The README's ```text blocks: (line number, lines)."""
    found, inside, start, lines = [], False, 0, []
    for number, line in enumerate(readme.splitlines(), 1):
        if not inside and line.strip() == "```text":
            inside, start, lines = True, number + 1, []
        elif inside and line.strip() == "```":
            inside = False
            found.append((start, lines))
        elif inside:
            lines.append(line)
    return found


def contains(haystack, needle):
    """Whether `needle` occurs in `haystack` as consecutive lines."""
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip())
        return 2
    out = pathlib.Path(argv[1])
    readme = pathlib.Path(argv[2] if len(argv) > 2 else "README.md")
    outputs = {}
    for path in sorted(out.glob("*.txt")):
        # The first line is the command; the output follows a blank line.
        text = path.read_text().split("\n", 2)
        outputs[path.stem] = [normal(l) for l in (text[2] if len(text) > 2 else "").splitlines()]
    if not outputs:
        print(f"{out}: no outputs (run scripts/readme-figures.sh {out} first)")
        return 2
    differ = 0
    for start, lines in blocks(readme.read_text()):
        want = [normal(l) for l in lines]
        where = f"{readme}:{start}"
        same = [name for name, got in outputs.items() if contains(got, want)]
        if same:
            print(f"{where}: current ({', '.join(same)})")
            continue
        # The output sharing most of the block's lines, if any shares one.
        name, got = max(outputs.items(), key=lambda kv: len(set(kv[1]) & set(want)))
        shared = len(set(got) & set(want))
        if shared * 2 < len(set(want)):
            print(f"{where}: printed by no figure run here ({len(lines)} lines)")
            continue
        differ += 1
        print(f"{where}: differs from {name}.txt")
        # The diff against the stretch of the output the block overlaps.
        at = [i for i, l in enumerate(got) if l == want[0]]
        first = at[0] if at else min(i for i, l in enumerate(got) if l in want)
        last = max(i for i, l in enumerate(got) if l in want)
        sys.stdout.writelines(
            difflib.unified_diff(
                [l + "\n" for l in want],
                [l + "\n" for l in got[first : last + 1]],
                f"README.md:{start}",
                f"{name}.txt",
            )
        )
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
