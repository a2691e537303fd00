"""Pin a GitHub Action to a commit (PD203): resolve `owner/repo@tag` through the GitHub API and write
`uses: owner/repo@<40-hex sha> # <tag>`, a line-exact edit keeping the rest of the workflow."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from paydown.analyzers.finding import Finding

from ._model import Leave, Workspace

DEFAULT_API_URL = "https://api.github.com"
_SHA = re.compile(r"[0-9a-f]{40}")
_TIMEOUT_SECONDS = 20.0
_MAX_BYTES = 4096


@dataclass(slots=True)
class GitHubCommits:
    """Commits of tags and branches, each asked once; ``GITHUB_TOKEN`` when set, else anonymous."""

    api_url: str = DEFAULT_API_URL
    token: str | None = field(default_factory=lambda: os.environ.get("GITHUB_TOKEN") or None)
    _seen: dict[tuple[str, str], str | Leave] = field(default_factory=dict)

    def sha(self, repo: str, ref: str) -> str:
        if (repo, ref) not in self._seen:
            try:
                self._seen[repo, ref] = self._ask(repo, ref)
            except Leave as why:
                self._seen[repo, ref] = why
        found = self._seen[repo, ref]
        if isinstance(found, Leave):
            raise found
        return found

    def _ask(self, repo: str, ref: str) -> str:
        url = f"{self.api_url.rstrip('/')}/repos/{repo}/commits/{urllib.parse.quote(ref, safe='')}"
        headers = {"Accept": "application/vnd.github.sha", "X-GitHub-Api-Version": "2022-11-28"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_SECONDS) as r:
                body = r.read(_MAX_BYTES).decode("ascii", "replace").strip()
        except urllib.error.HTTPError as err:
            err.close()
            raise Leave(f"the GitHub API answered {err.code} for {repo}@{ref}; no commit to pin to") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise Leave(f"the GitHub API did not answer for {repo}@{ref} ({getattr(err, 'reason', err)}); "
                        "no commit to pin to") from None
        if not _SHA.fullmatch(body):
            raise Leave(f"the GitHub API did not give a commit for {repo}@{ref}")
        return body


def pin_action(ws: Workspace, github: GitHubCommits, finding: Finding) -> str:
    path, number = finding.location.path, finding.location.line
    number = ws.line_now(path, number)
    lines = ws.read(path).splitlines(keepends=True)
    if not 0 < number <= len(lines):
        raise Leave(f"line {number} is no longer in {path}")
    line = lines[number - 1]
    repo = "/".join(finding.symbol.split("@", 1)[0].split("/")[:2])  # github/codeql-action/init: the repository
    uses = re.search(rf"(uses:\s*[\"']?){re.escape(repo)}(/[^@\s\"']*)?@([^\s\"'#]+)([\"']?)", line)
    if uses is None or repo.count("/") != 1:
        raise Leave(f"cannot find `uses: {repo}@...` on this line")
    ref = uses.group(3)
    sha = github.sha(repo, ref)
    end = line.rstrip("\r\n")
    newline = line[len(end):]
    pinned = end[:uses.start(3)] + sha + end[uses.end(3):]
    comment = pinned.find(" #", uses.end())
    pinned = f"{pinned} # {ref}" if comment < 0 else f"{pinned[:comment]} # {ref}{pinned[comment:]}"
    lines[number - 1] = pinned + newline
    ws.update(path, "".join(lines))
    return f"pinned {repo} to {sha} (the commit {ref} points to now)"
