"""Finding skills: the standard locations, first name wins, and a simple search.

Locations, in precedence order (:func:`skill_locations`):

1. the profile's ``skills/`` folder;
2. ``<working dir>/.moco/skills``;
3. ``<working dir>/.claude/skills`` (Claude Code project skills);
4. ``$MOCO_HOME/skills`` (``moco skills install`` puts skills here);
5. ``~/.claude/skills`` (Claude Code personal skills).

Each location holds one folder per skill (``<location>/<name>/SKILL.md``). A skill found in an
earlier location hides a later one of the same name. Invalid skills never break discovery:
they are kept in :attr:`SkillRegistry.invalid` with the reason.
"""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from moco.skills.model import InvalidSkillError, Skill, load_skill_dir, skill_file_in

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: query words too common to tell skills apart
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "how", "i",
    "in", "is", "it", "me", "my", "of", "on", "or", "please", "the", "this", "to", "use",
    "using", "what", "when", "with", "you", "your",
})  # fmt: skip


def skill_locations(
    working_dir: str | os.PathLike[str] | None = None,
    profile_skills_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Path]:
    """The folders searched for skills, in precedence order, without duplicates.

    Folders that do not exist are included (discovery skips them), so callers can show where
    skills would be looked for.
    """
    from moco.config import moco_home

    env = os.environ if env is None else env
    base = Path(working_dir) if working_dir is not None else Path.cwd()
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    candidates: list[Path] = []
    if profile_skills_dir is not None:
        candidates.append(Path(profile_skills_dir))
    candidates += [
        base / ".moco" / "skills",
        base / ".claude" / "skills",
        moco_home(env) / "skills",
        home / ".claude" / "skills",
    ]
    unique: list[Path] = []
    for candidate in candidates:
        resolved = candidate.expanduser().resolve()
        if resolved not in unique:
            unique.append(resolved)
    return unique


def discover_skills(
    working_dir: str | os.PathLike[str] | None = None,
    profile_skills_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> SkillRegistry:
    """The skills of the standard locations (:func:`skill_locations`)."""
    return SkillRegistry.discover(skill_locations(working_dir, profile_skills_dir, env))


def installed_skills_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where ``moco skills install`` puts skills: ``$MOCO_HOME/skills``."""
    from moco.config import moco_home

    return moco_home(env) / "skills"


@dataclass(frozen=True)
class SearchHit:
    skill: Skill
    score: float


class SkillRegistry:
    """The skills found in some locations, by name; the first location wins."""

    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._skills: dict[str, Skill] = {}
        #: skills that could not be loaded: (path, reason)
        self.invalid: list[tuple[Path, str]] = []
        #: skills hidden by one of the same name found earlier: (hidden path, winning path)
        self.shadowed: list[tuple[Path, Path]] = []
        self.locations: list[Path] = []
        for skill in skills:
            self.add(skill)

    @classmethod
    def discover(cls, locations: Iterable[str | os.PathLike[str]]) -> SkillRegistry:
        """Load every skill folder of every location, in order."""
        registry = cls()
        for location in locations:
            registry.add_location(Path(location))
        return registry

    def add_location(self, location: Path) -> None:
        """Load the skills of one location (``<location>/<name>/SKILL.md``)."""
        self.locations.append(location)
        try:
            children = sorted(child for child in location.iterdir() if child.is_dir())
        except OSError:
            return
        for child in children:
            if child.name.startswith(".") or skill_file_in(child) is None:
                continue
            try:
                skill = load_skill_dir(child)
            except InvalidSkillError as error:
                self.invalid.append((error.path, "; ".join(error.reasons)))
                continue
            self.add(skill)

    def add(self, skill: Skill) -> bool:
        """Add ``skill`` unless one of that name is already known; returns whether it was."""
        existing = self._skills.get(skill.name)
        if existing is not None:
            if existing.path != skill.path:
                self.shadowed.append((skill.path, existing.path))
            return False
        self._skills[skill.name] = skill
        return True

    def list(self) -> list[Skill]:
        """Every skill, sorted by name."""
        return [self._skills[name] for name in sorted(self._skills)]

    def get(self, name: str) -> Skill | None:
        return self._skills.get(name.strip())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip() in self._skills

    def __len__(self) -> int:
        return len(self._skills)

    def __bool__(self) -> bool:  # an empty registry is still a registry
        return True

    @property
    def names(self) -> builtins.list[str]:
        return sorted(self._skills)

    def search(self, query: str, limit: int | None = None) -> builtins.list[Skill]:
        """Skills matching ``query``, best first (see :meth:`search_scored`)."""
        return [hit.skill for hit in self.search_scored(query, limit)]

    def search_scored(
        self, query: str, limit: int | None = None
    ) -> builtins.list[SearchHit]:
        """Rank skills by how well their name and description match the words of ``query``.

        A query word scores 3 when it is a word of the name, 1 when it is a word of the
        description (a prefix or a plural counts half; :data:`STOP_WORDS` count nothing); the
        whole query equal to a name adds 10. Skills scoring 0 are left out; ties are sorted by
        name.
        """
        terms = _words(query)
        wanted = query.strip().lower()
        hits: builtins.list[SearchHit] = []
        for skill in self._skills.values():
            score = _score(skill, terms)
            if wanted and skill.name == wanted:
                score += 10
            if score > 0:
                hits.append(SearchHit(skill, score))
        hits.sort(key=lambda hit: (-hit.score, hit.skill.name))
        return hits[:limit] if limit is not None else hits


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _term_score(term: str, words: set[str]) -> float:
    if term in words:
        return 1.0
    stem = _stem(term)
    if any(_stem(word) == stem for word in words):
        return 0.5
    if len(term) >= 3 and any(word.startswith(term) for word in words):
        return 0.5
    return 0.0


def _score(skill: Skill, terms: list[str]) -> float:
    name_words = set(_words(skill.name))
    description_words = set(_words(skill.description))
    total = 0.0
    for term in dict.fromkeys(term for term in terms if term not in STOP_WORDS):
        total += 3 * _term_score(term, name_words) + _term_score(term, description_words)
    return total
