"""Read the instructions of the image recipes (enough of the syntax for ours).

The four services share one template, deploy/docker/service.Dockerfile; a service's image is the
template read with the build arguments docker-compose.yml gives it (x-build-*).
"""

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["catalog", "orders", "auth-gateway", "notifier"]
TEMPLATE = ROOT / "deploy" / "docker" / "service.Dockerfile"
# The compose-only image of the local servers (the OIDC provider and the stand-ins).
LOCAL_SERVERS = ROOT / "deploy" / "docker" / "local-servers.Dockerfile"
# The form of CMD that runs the command a build argument named (exec: the command is PID 1).
SHELL_EXEC = re.compile(r"^exec \$(\w+)$")


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
        """The process the image runs: CMD, or the command ``sh -c "exec $VAR"`` names."""
        commands = self.all("CMD")
        assert commands, "the stage has no CMD"
        command = json.loads(commands[-1])
        if command[:2] == ["/bin/sh", "-c"] and (match := SHELL_EXEC.match(command[2])):
            return shlex.split(self.env[match[1]])
        return command

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


def stages(path: Path, build_args: dict[str, str] | None = None) -> list[Stage]:
    """The stages of ``path`` built with ``build_args``: each stage's ARGs substituted."""
    build_args = build_args or {}
    result: list[Stage] = []
    values: dict[str, str] = {}
    for keyword, args in instructions(path):
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base=words[0], name=name))
            values = {}  # an ARG is in scope in the stage that declares it only
        elif keyword == "ARG":
            name, _, default = args.partition("=")
            values[name] = build_args.get(name, default)
            result[-1].instructions.append((keyword, args))
        else:
            for name, value in values.items():
                args = args.replace("${" + name + "}", value)
            result[-1].instructions.append((keyword, args))
    return result


def build_args(service: str) -> dict[str, str]:
    """The build arguments docker-compose.yml gives the service's image."""
    from .compose import resolved  # compose.py imports ROOT from here

    return resolved()["services"][service]["build"]["args"]


def service_stages(service: str) -> list[Stage]:
    return stages(TEMPLATE, build_args(service))


def final_stage(service: str) -> Stage:
    return service_stages(service)[-1]
