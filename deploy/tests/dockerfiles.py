"""Read the instructions of the services' Dockerfiles (enough of the syntax for ours)."""

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["catalog", "orders", "auth-gateway", "notifier"]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    @property
    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                values[name] = value
        return values

    @property
    def cmd(self) -> list[str]:
        commands = self.all("CMD")
        assert commands, "the stage has no CMD"
        return json.loads(commands[-1])

    @property
    def user(self) -> str | None:
        users = self.all("USER")
        return users[-1] if users else None

    @property
    def workdir(self) -> str | None:
        dirs = self.all("WORKDIR")
        return dirs[-1] if dirs else None


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuations joined, comments dropped."""
    result = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def stages(path: Path) -> list[Stage]:
    result: list[Stage] = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base=words[0], name=name))
        else:
            result[-1].instructions.append((keyword, args))
    return result


def dockerfile(service: str) -> Path:
    return ROOT / "services" / service / "Dockerfile"


def final_stage(service: str) -> Stage:
    return stages(dockerfile(service))[-1]
