"""A small Dockerfile reader for checking the image's properties without a Docker engine.

It follows the parts of the format the project's Dockerfile uses: comments, backslash line
continuations, `FROM image AS name` stages that build on each other, exec-form (JSON) commands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY ...
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of CMD/ENTRYPOINT; shell form is refused because it hides the real process."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            value = None
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValueError(
                f"Dockerfile line {self.line}: {self.keyword} must be a JSON array (exec form), got {self.args!r}"
            )
        return value


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)


def parse(path: Path) -> dict[str, Stage]:
    """Stages by name (unnamed stages by their index), in file order."""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in _instructions(path.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            current = stages[name] = Stage(name, words[0])
        elif current is None:
            raise ValueError(f"{path}:{instruction.line}: {instruction.keyword} before the first FROM")
        else:
            current.instructions.append(instruction)
    return stages


def chain(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The target and the stages it builds on, base first."""
    order = []
    name = target
    while name in stages:
        order.insert(0, stages[name])
        name = stages[name].base
    return order


def effective(stages: dict[str, Stage], target: str, keyword: str) -> Instruction | None:
    """The instruction that is in force in `target` (the last one along its FROM chain)."""
    found = [i for stage in chain(stages, target) for i in stage.instructions if i.keyword == keyword]
    return found[-1] if found else None


def _instructions(text: str):
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        keyword, _, args = buffer.partition(" ")
        yield Instruction(keyword.upper(), args.strip(), start)
        buffer = ""
    if buffer:
        raise ValueError(f"Dockerfile line {start}: a line continuation runs past the end of the file")
