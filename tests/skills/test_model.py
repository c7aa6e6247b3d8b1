"""SKILL.md parsing and validation, discovery locations and precedence, search ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco.skills import InvalidSkillError, SkillRegistry, load_skill_dir, skill_locations
from moco.skills.model import list_skill_files, parse_allowed_tools

from . import FIXTURE_SKILLS, write_skill

# --------------------------------------------------------------------------- real skills


def test_every_fixture_skill_loads_and_validates(fixtures: Path) -> None:
    registry = SkillRegistry.discover([fixtures / "skills"])
    assert registry.names == sorted(FIXTURE_SKILLS)
    assert registry.invalid == []
    for skill in registry.list():
        assert skill.description
        assert skill.body
        assert skill.license == "Complete terms in LICENSE.txt"
        assert skill.warnings == ()
        assert skill.path == (fixtures / "skills" / skill.name).resolve()


def test_files_are_what_exists_not_what_skill_md_mentions(fixtures: Path) -> None:
    smoke = load_skill_dir(fixtures / "skills" / "api-smoke-testing")
    assert "scripts/run_checks.py" in smoke.body  # mentioned, but deliberately absent
    assert smoke.files == ("LICENSE.txt",)
    notes = load_skill_dir(fixtures / "skills" / "release-notes")
    assert notes.files == (
        "LICENSE.txt",
        "examples/breaking-changes.md",
        "examples/faq-answers.md",
        "examples/highlights.md",
        "examples/upgrade-guide.md",
    )
    assert all(path.is_file() for path in notes.file_paths())
    builder = load_skill_dir(fixtures / "skills" / "cli-builder")
    assert "reference/checklist.md" in builder.files
    assert "scripts/check_help.py" in builder.files
    assert "SKILL.md" not in builder.files
    banner = load_skill_dir(fixtures / "skills" / "ascii-banner-creator")
    assert banner.files == ("LICENSE.txt", "assets/block-font.txt")


def test_fixture_front_matter_fields(fixtures: Path) -> None:
    builder = load_skill_dir(fixtures / "skills" / "cli-builder")
    assert builder.compatibility == "Requires python3"
    assert builder.metadata == {"author": "moco-tests", "version": "1.0"}
    smoke = load_skill_dir(fixtures / "skills" / "api-smoke-testing")
    assert smoke.allowed_tools == ("Bash(curl:*)", "Read")
    notes = load_skill_dir(fixtures / "skills" / "release-notes")
    assert notes.body.startswith("# Release notes")
    assert " ".join(notes.description.split()).startswith("Write release notes, changelog")


# --------------------------------------------------------------------------- front matter


def test_optional_fields_and_unknown_keys_are_kept(tmp_path: Path) -> None:
    folder = write_skill(
        tmp_path, "pdf-processing", "Extract text from PDF files. Use for PDFs.",
        front=(
            "license: Apache-2.0\ncompatibility: Requires python3\n"
            "allowed-tools: Read, Grep Bash(git status:*)\n"
            "metadata:\n  author: example-org\n  version: '1.0'\n"
            "x-custom: kept\n"
        ),
        files={"scripts/extract.py": "print('x')\n", "references/REFERENCE.md": "ref\n"},
    )
    skill = load_skill_dir(folder)
    assert skill.name == "pdf-processing"
    assert skill.license == "Apache-2.0"
    assert skill.compatibility == "Requires python3"
    assert skill.allowed_tools == ("Read", "Grep", "Bash(git status:*)")
    assert skill.metadata == {"author": "example-org", "version": "1.0"}
    assert skill.extra == {"x-custom": "kept"}
    assert skill.files == ("references/REFERENCE.md", "scripts/extract.py")
    assert skill.body == "Follow these steps."


def test_allowed_tools_as_a_yaml_list(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "lister", front="allowed-tools:\n  - Read\n  - Bash(git:*)\n")
    assert load_skill_dir(folder).allowed_tools == ("Read", "Bash(git:*)")
    assert parse_allowed_tools(42)[1]
    assert parse_allowed_tools("Read  Read,Write") == (("Read", "Write"), [])


@pytest.mark.parametrize(
    "name",
    ["PDF-Processing", "-pdf", "pdf-", "pdf--processing", "a" * 65, "pdf_processing",
     "pdf processing", "123", "''"],
)
def test_invalid_names_are_reported_and_skipped(tmp_path: Path, name: str) -> None:
    write_skill(tmp_path, name, folder="bad-skill")
    write_skill(tmp_path, "good-skill")
    registry = SkillRegistry.discover([tmp_path])
    assert registry.names == ["good-skill"]
    [(path, reason)] = registry.invalid
    assert path == tmp_path.resolve() / "bad-skill" / "SKILL.md"
    assert "name" in reason


def test_longest_valid_name_and_digits(tmp_path: Path) -> None:
    name = "a1-" * 21 + "z"
    assert len(name) == 64
    assert load_skill_dir(write_skill(tmp_path, name)).name == name


def test_name_must_equal_the_folder_name(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "pdf-tools", folder="pdf")
    with pytest.raises(InvalidSkillError, match="must equal its folder name 'pdf'"):
        load_skill_dir(folder)
    assert load_skill_dir(folder, check_folder=False).name == "pdf-tools"


def test_a_symlinked_skill_folder_is_named_by_its_link(tmp_path: Path) -> None:
    real = write_skill(tmp_path / "src", "linked-skill", folder="linked-skill-repo")
    (tmp_path / "skills").mkdir()
    (tmp_path / "skills" / "linked-skill").symlink_to(real)
    registry = SkillRegistry.discover([tmp_path / "skills"])
    assert registry.names == ["linked-skill"]
    skill = registry.get("linked-skill")
    assert skill is not None and skill.path == real.resolve()


def test_reserved_words_are_a_warning_not_an_error(tmp_path: Path) -> None:
    skill = load_skill_dir(write_skill(tmp_path, "claude-api"))
    assert skill.name == "claude-api"
    assert any("reserved word" in warning for warning in skill.warnings)


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("''", "non-empty"),
        ("'   '", "non-empty"),
        ("x" * 1025, "longer than 1024"),
        ("Use it for <b>bold</b> work", "XML tags"),
        ("Reads <document> files", "XML tags"),
        ("[1, 2]", "non-empty text"),
    ],
)
def test_invalid_descriptions(tmp_path: Path, description: str, expected: str) -> None:
    folder = write_skill(tmp_path, "some-skill", description)
    with pytest.raises(InvalidSkillError, match=expected):
        load_skill_dir(folder)


def test_description_at_the_limit_and_with_comparisons_is_valid(tmp_path: Path) -> None:
    assert load_skill_dir(write_skill(tmp_path, "one", "y" * 1024)).description == "y" * 1024
    plain = "Use when a < b and c > d, or for x->y"
    assert load_skill_dir(write_skill(tmp_path, "two", f"'{plain}'")).description == plain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no front matter at all\n", "no YAML front matter"),
        ("---\nname: x\ndescription: [unclosed\n---\nbody\n", "malformed YAML"),
        ("---\nname: broken\n", "never closed"),
        ("---\n- a\n- b\n---\n", "mapping"),
        ("---\ndescription: no name\n---\n", "missing required field 'name'"),
        ("---\nname: broken\n---\n", "missing required field 'description'"),
        ("---\nname: broken\ndescription: d\nmetadata: [1]\n---\n", "'metadata' must be"),
        ("---\nname: broken\ndescription: d\nallowed-tools: {a: 1}\n---\n", "allowed-tools"),
        ("---\nname: broken\ndescription: d\ncompatibility: " + "c" * 501 + "\n---\n", "500"),
    ],
)
def test_malformed_skill_files_never_crash_discovery(
    tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "SKILL.md").write_text(text, encoding="utf-8")
    registry = SkillRegistry.discover([tmp_path])
    assert len(registry) == 0
    [(_, reason)] = registry.invalid
    assert expected in reason


def test_unreadable_bytes_are_reported(tmp_path: Path) -> None:
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "SKILL.md").write_bytes(b"---\nname: binary\n\xff\xfe\n---\n")
    registry = SkillRegistry.discover([tmp_path, tmp_path / "missing-location"])
    assert "UTF-8" in registry.invalid[0][1]


def test_file_listing_is_capped_and_skips_noise(tmp_path: Path) -> None:
    files = {f"data/{index:02}.txt": "x" for index in range(5)}
    files |= {".hidden": "x", "__pycache__/a.pyc": "x", ".git/config": "x"}
    folder = write_skill(tmp_path, "many", files=files)
    (tmp_path / "outside.txt").write_text("secret")
    (folder / "escape.txt").symlink_to(tmp_path / "outside.txt")
    (folder / "inside.txt").symlink_to(folder / "data" / "00.txt")
    listed, truncated = list_skill_files(folder)
    assert listed == [f"data/{index:02}.txt" for index in range(5)] + ["inside.txt"]
    assert not truncated
    assert list_skill_files(folder, limit=3) == (listed[:3], True)


def test_lowercase_skill_md_is_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "lower"
    folder.mkdir()
    (folder / "skill.md").write_text("---\nname: lower\ndescription: d\n---\nbody\n")
    assert load_skill_dir(folder).skill_file.name == "skill.md"


# --------------------------------------------------------------------------- discovery


def test_locations_in_precedence_order(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "MOCO_HOME": str(tmp_path / "moco")}
    work = tmp_path / "work"
    locations = skill_locations(work, tmp_path / "profile" / "skills", env)
    assert locations == [
        (tmp_path / "profile" / "skills").resolve(),
        (work / ".moco" / "skills").resolve(),
        (work / ".claude" / "skills").resolve(),
        (tmp_path / "moco" / "skills").resolve(),
        (tmp_path / "home" / ".claude" / "skills").resolve(),
    ]
    assert skill_locations(work, None, env)[0] == (work / ".moco" / "skills").resolve()


def test_first_location_wins(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "MOCO_HOME": str(tmp_path / "moco")}
    work = tmp_path / "work"
    write_skill(tmp_path / "moco" / "skills", "shared", "Installed copy.")
    write_skill(work / ".claude" / "skills", "shared", "Project copy.")
    write_skill(tmp_path / "home" / ".claude" / "skills", "personal", "Personal skill.")
    registry = SkillRegistry.discover(skill_locations(work, None, env))
    assert registry.names == ["personal", "shared"]
    shared = registry.get("shared")
    assert shared is not None and shared.description == "Project copy."
    [(hidden, winner)] = registry.shadowed
    assert hidden == (tmp_path / "moco" / "skills" / "shared").resolve()
    assert winner == shared.path
    assert "shared" in registry and "nothing" not in registry


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("ascii banner", "ascii-banner-creator"),
        ("make a text logo", "ascii-banner-creator"),
        ("build a command line tool", "cli-builder"),
        ("write the release notes", "release-notes"),
        ("smoke test my HTTP API with curl", "api-smoke-testing"),
        ("api-smoke-testing", "api-smoke-testing"),
    ],
)
def test_search_ranks_the_obvious_skill_first(fixtures: Path, query: str, best: str) -> None:
    registry = SkillRegistry.discover([fixtures / "skills"])
    results = registry.search(query)
    assert results[0].name == best


def test_search_scores_and_misses(fixtures: Path) -> None:
    registry = SkillRegistry.discover([fixtures / "skills"])
    assert registry.search("zebra quantum") == []
    assert registry.search("the and of") == []
    hits = registry.search_scored("cli commands", limit=1)
    assert [hit.skill.name for hit in hits] == ["cli-builder"]
    assert hits[0].score > 3
