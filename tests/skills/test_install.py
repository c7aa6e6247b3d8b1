"""Installing skills from git repositories, archives (local and over HTTP) and registries;
archive safety; uninstall."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from moco.errors import ConfigError
from moco.skills import SkillRegistry
from moco.skills.archive import UnsafeArchiveError, extract_archive
from moco.skills.install import (
    PROVENANCE_FILE,
    install,
    plan_install,
    read_provenance,
    skill_settings,
    sync,
    uninstall,
)
from moco.skills.model import SkillError
from moco.skills.sources import SkillFetchError, SkillSource, SkillSourceError, parse_source

from . import (
    FIXTURE_SKILLS,
    bare_copy,
    commit_all,
    copy_fixture_skills,
    git,
    make_repo,
    serve_directory,
    write_skill,
)


@pytest.fixture
def home(moco_home: Path) -> Path:
    return moco_home


@pytest.fixture
def skills_repo(tmp_path: Path, fixtures: Path) -> Path:
    """A repository like anthropics/skills: skills under ``skills/``, plus one invalid."""
    repo = tmp_path / "src-repo"
    copy_fixture_skills(fixtures, repo / "skills")
    write_skill(repo / "skills", "Bad_Name", folder="bad")
    (repo / "README.md").write_text("skills\n")
    return make_repo(repo)


def installed(home: Path) -> list[str]:
    folder = home / "skills"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --------------------------------------------------------------------------- sources


@pytest.mark.parametrize(
    ("text", "kind", "location", "ref", "subpath"),
    [
        ("anthropics/skills", "git", "https://github.com/anthropics/skills.git", None, None),
        ("anthropics/skills/skills/pdf@v1.2", "git", "https://github.com/anthropics/skills.git",
         "v1.2", "skills/pdf"),
        ("o/r.git@main", "git", "https://github.com/o/r.git", "main", None),
        ("https://github.com/o/r/tree/main/skills/pdf", "git", "https://github.com/o/r.git",
         "main", "skills/pdf"),
        ("https://example.com/x/repo.git#dev", "git", "https://example.com/x/repo.git", "dev",
         None),
        ("https://example.com/x/repo.git@v2", "git", "https://example.com/x/repo.git", "v2", None),
        ("git@github.com:o/r.git", "git", "git@github.com:o/r.git", None, None),
        ("ssh://git@host/o/r.git", "git", "ssh://git@host/o/r.git", None, None),
        ("file:///srv/git/r.git", "git", "file:///srv/git/r.git", None, None),
        ("https://example.com/dl/skills.tar.gz", "url", "https://example.com/dl/skills.tar.gz",
         None, None),
        ("http://127.0.0.1:8/a.zip?x=1", "url", "http://127.0.0.1:8/a.zip?x=1", None, None),
    ],
)
def test_parse_source(
    text: str, kind: str, location: str, ref: str | None, subpath: str | None
) -> None:
    parsed = parse_source(text)
    assert (parsed.kind, parsed.location, parsed.ref, parsed.subpath) == (
        kind, location, ref, subpath,
    )
    assert parsed.text == text


def test_parse_source_local_registry_and_errors(tmp_path: Path) -> None:
    archive = tmp_path / "skills.zip"
    archive.write_bytes(b"")
    assert parse_source(str(tmp_path)).kind == "dir"
    assert parse_source(str(archive)).kind == "archive"
    assert parse_source(f"file://{archive}").kind == "archive"
    shorthand = parse_source("me/repo", git_base="file:///srv/bare/")
    assert shorthand.location == "file:///srv/bare/me/repo.git"
    one = parse_source("anthropics:pdf", registries={"anthropics": "anthropics/skills"})
    assert (one.location, one.only) == ("https://github.com/anthropics/skills.git", "pdf")
    with pytest.raises(SkillSourceError, match="no such folder"):
        parse_source("./does-not-exist")
    with pytest.raises(SkillSourceError, match="cannot understand"):
        parse_source("just words here")
    with pytest.raises(ConfigError):  # a user mistake: exit code 2
        parse_source("--upload-pack=evil")
    for bad_ref in ("o/r@--upload-pack=touch", "file:///x/r.git#-c", "o/r@a..b"):
        with pytest.raises(SkillSourceError, match="not a valid git"):
            parse_source(bad_ref)


# --------------------------------------------------------------------------- git


def test_install_from_file_url_git_repo(home: Path, skills_repo: Path) -> None:
    result = install(f"file://{skills_repo}", assume_yes=True)
    assert sorted(item.name for item in result.installed) == sorted(FIXTURE_SKILLS)
    assert installed(home) == sorted(FIXTURE_SKILLS)
    assert [path for path, _ in result.plan.invalid] == ["skills/bad/SKILL.md"]
    assert "lowercase" in result.plan.invalid[0][1]
    comms = home / "skills" / "release-notes"
    assert (comms / "examples" / "faq-answers.md").is_file()
    assert not (comms / ".git").exists()
    origin = read_provenance(comms)
    assert origin["path"] == "skills/release-notes"
    assert origin["commit"] == git("rev-parse", "HEAD", cwd=skills_repo)
    registry = SkillRegistry.discover([home / "skills"])
    assert registry.names == sorted(FIXTURE_SKILLS) and registry.invalid == []
    skill = registry.get("release-notes")
    assert skill is not None and PROVENANCE_FILE not in skill.files


def test_install_shorthand_from_configured_git_base(
    home: Path, tmp_path: Path, skills_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git("tag", "v1", cwd=skills_repo)
    (skills_repo / "skills" / "cli-builder" / "NEW.md").write_text("added after v1\n")
    commit_all(skills_repo, "after v1")
    hosts = tmp_path / "githost"
    bare_copy(skills_repo, hosts / "acme" / "skills.git")
    monkeypatch.setenv("MOCO_SKILLS_GIT_BASE", f"file://{hosts}")
    result = install("acme/skills/skills/cli-builder@v1", assume_yes=True)
    assert [item.name for item in result.installed] == ["cli-builder"]
    assert not (home / "skills" / "cli-builder" / "NEW.md").exists()
    assert read_provenance(home / "skills" / "cli-builder")["ref"] == "v1"
    latest = install("acme/skills/skills/cli-builder", assume_yes=True)
    assert latest.plan.skills[0].overwrites
    assert (home / "skills" / "cli-builder" / "NEW.md").is_file()
    assert installed(home) == ["cli-builder"]


def test_install_a_commit_id(home: Path, skills_repo: Path) -> None:
    first = git("rev-parse", "HEAD", cwd=skills_repo)
    git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=skills_repo)
    write_skill(skills_repo / "skills", "later-skill")
    commit_all(skills_repo, "later")
    result = install(f"file://{skills_repo}#{first}", assume_yes=True)
    assert "later-skill" not in [item.name for item in result.installed]
    assert result.plan.commit == first


def test_dry_run_confirmation_and_refusal(home: Path, skills_repo: Path) -> None:
    url = f"file://{skills_repo}"
    dry = install(url, dry_run=True)
    assert dry.dry_run and len(dry.plan.skills) == 4 and installed(home) == []
    with pytest.raises(SkillError, match="assume_yes"):
        install(url)
    asked: list[int] = []

    def decline(plan: object) -> bool:
        asked.append(len(plan.skills))  # type: ignore[attr-defined]
        return False

    assert install(url, confirm=decline).cancelled
    assert asked == [4] and installed(home) == []
    assert install(url, confirm=lambda plan: True).installed
    assert installed(home) == sorted(FIXTURE_SKILLS)
    again = install(url, dry_run=True)
    assert all(item.overwrites for item in again.plan.skills)


def test_folder_name_differing_from_name_is_installed_under_the_name(
    home: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    write_skill(repo, "pdf-tools", folder="pdf", files={"scripts/run.sh": "#!/bin/sh\necho\n"})
    (repo / "pdf" / "scripts" / "run.sh").chmod(0o755)
    make_repo(repo)
    result = install(f"file://{repo}", assume_yes=True)
    [item] = result.installed
    assert any("installed as 'pdf-tools'" in warning for warning in item.warnings)
    script = home / "skills" / "pdf-tools" / "scripts" / "run.sh"
    assert script.is_file() and script.stat().st_mode & 0o111
    assert SkillRegistry.discover([home / "skills"]).names == ["pdf-tools"]


def test_a_repository_that_is_one_skill(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "single"
    repo.mkdir()
    (repo / "SKILL.md").write_text("---\nname: solo-skill\ndescription: Alone.\n---\nbody\n")
    make_repo(repo)
    result = install(f"file://{repo}", assume_yes=True)
    assert [item.name for item in result.installed] == ["solo-skill"]
    assert result.installed[0].warnings == ()


def test_errors_are_one_readable_line(home: Path, tmp_path: Path) -> None:
    with pytest.raises(SkillFetchError, match=r"git clone of file://.* failed"):
        install(f"file://{tmp_path}/missing.git", assume_yes=True)
    empty = make_repo(tmp_path / "empty", {"README.md": "nothing\n"})
    with pytest.raises(SkillError, match="no valid skill found"):
        install(f"file://{empty}", assume_yes=True)
    only_bad = tmp_path / "bad"
    write_skill(only_bad, "x", "<tag>")
    with pytest.raises(SkillError, match=r"1 invalid.*XML tags"):
        install(str(only_bad), assume_yes=True)
    with pytest.raises(SkillSourceError, match="no folder 'nope'"):
        plan_install(SkillSource("dir", str(empty), subpath="nope"), skill_settings())
    with pytest.raises(SkillSourceError, match="leaves the source"):
        plan_install(SkillSource("dir", str(empty), subpath="../.."), skill_settings())


# --------------------------------------------------------------------------- local sources


def test_install_from_local_folder(home: Path, fixtures: Path) -> None:
    result = install(str(fixtures / "skills" / "api-smoke-testing"), assume_yes=True)
    assert [item.name for item in result.installed] == ["api-smoke-testing"]
    assert (home / "skills" / "api-smoke-testing" / "LICENSE.txt").is_file()
    assert (fixtures / "skills" / "api-smoke-testing" / PROVENANCE_FILE).exists() is False


def test_install_only_one_skill_of_a_registry(
    home: Path, skills_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCO_SKILLS_REGISTRY_LOCAL", f"file://{skills_repo}")
    result = install("local:ascii-banner-creator", assume_yes=True)
    assert installed(home) == ["ascii-banner-creator"]
    assert result.plan.source.only == "ascii-banner-creator"
    with pytest.raises(SkillError, match="no valid skill named 'nope'"):
        install("local:nope", assume_yes=True)


# --------------------------------------------------------------------------- archives


def _tar_gz(fixtures: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as archive:
        archive.add(fixtures / "skills" / "release-notes", arcname="pack/release-notes")
        archive.add(fixtures / "skills" / "cli-builder", arcname="pack/cli-builder")
    return dest


def _zip(fixtures: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as archive:
        for name in ("ascii-banner-creator", "api-smoke-testing"):
            for path in sorted((fixtures / "skills" / name).rglob("*")):
                archive.write(path, f"{name}/{path.relative_to(fixtures / 'skills' / name)}")
    return dest


def test_install_archives_over_http(home: Path, tmp_path: Path, fixtures: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    _tar_gz(fixtures, served / "pack.tar.gz")
    _zip(fixtures, served / "pack.zip")
    with serve_directory(served) as base:
        from_tar = install(f"{base}/pack.tar.gz", assume_yes=True)
        from_zip = install(f"{base}/pack.zip", assume_yes=True)
        with pytest.raises(SkillFetchError, match="HTTP 404"):
            install(f"{base}/missing.zip", assume_yes=True)
    assert sorted(i.name for i in from_tar.installed) == ["cli-builder", "release-notes"]
    assert sorted(i.name for i in from_zip.installed) == [
        "api-smoke-testing", "ascii-banner-creator"]
    assert installed(home) == sorted(FIXTURE_SKILLS)
    expected = (fixtures / "skills/release-notes/examples/highlights.md").read_text()
    assert (home / "skills/release-notes/examples/highlights.md").read_text() == expected
    cache = home / "cache" / "skills"
    assert not any(cache.glob("extract-*")), "temporary extraction folders are removed"


def test_install_local_archive(home: Path, tmp_path: Path, fixtures: Path) -> None:
    result = install(str(_zip(fixtures, tmp_path / "local.zip")), assume_yes=True)
    assert len(result.installed) == 2


def _malicious_tars(tmp_path: Path) -> dict[str, Path]:
    def build(name: str, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
        path = tmp_path / f"{name}.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            ok = tarfile.TarInfo("good/SKILL.md")
            text = b"---\nname: good\ndescription: fine\n---\n"
            ok.size = len(text)
            archive.addfile(ok, io.BytesIO(text))
            for info, data in members:
                if data is not None:
                    info.size = len(data)
                archive.addfile(info, io.BytesIO(data) if data is not None else None)
        return path

    def info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
        member = tarfile.TarInfo(name)
        member.type, member.linkname = kind, link
        return member

    outside = str(tmp_path / "absolute-evil")
    return {
        "dotdot": build("dotdot", [(info("../evil"), b"pwned")]),
        "nested-dotdot": build("nested", [(info("good/../../evil"), b"pwned")]),
        "absolute": build("absolute", [(info(outside), b"pwned")]),
        "symlink-escape": build("symlink", [
            (info("good/link", tarfile.SYMTYPE, "../../.."), None),
            (info("good/link/evil"), b"pwned"),
        ]),
        "absolute-symlink": build("abslink", [(info("good/l", tarfile.SYMTYPE, "/etc"), None)]),
        "hardlink-escape": build("hardlink", [
            (info("good/h", tarfile.LNKTYPE, "../../etc/passwd"), None),
        ]),
        "device": build("device", [(info("good/dev", tarfile.CHRTYPE), None)]),
        "symlink-chain": build("chain", [
            # each link looks inside on its own; together, e resolves to the parent
            (info("good/up", tarfile.SYMTYPE, ".."), None),
            (info("good/e", tarfile.SYMTYPE, "up/.."), None),
        ]),
    }


@pytest.mark.parametrize(
    "case",
    ["dotdot", "nested-dotdot", "absolute", "symlink-escape", "absolute-symlink",
     "hardlink-escape", "device", "symlink-chain"],
)
def test_malicious_tar_is_refused_and_writes_nothing_outside(
    home: Path, tmp_path: Path, case: str
) -> None:
    archives = tmp_path / "archives"
    archives.mkdir()
    archive = _malicious_tars(archives)[case]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    served = archives
    with serve_directory(served) as base, pytest.raises(UnsafeArchiveError):
        install(f"{base}/{archive.name}", assume_yes=True)
    with pytest.raises(UnsafeArchiveError):
        install(str(archive), assume_yes=True)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before
    assert not (tmp_path / "absolute-evil").exists()
    assert not any(home.parent.rglob("evil"))
    assert installed(home) == []
    assert not any((home / "cache" / "skills").glob("extract-*"))


def test_malicious_zip_is_refused(home: Path, tmp_path: Path) -> None:
    for index, name in enumerate(("../evil", "/tmp/abs-evil", "C:/evil", "good/..\\..\\evil")):
        path = tmp_path / f"bad{index}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("good/SKILL.md", "---\nname: good\ndescription: fine\n---\n")
            archive.writestr(name, "pwned")
        with pytest.raises(UnsafeArchiveError):
            install(str(path), assume_yes=True)
    link = zipfile.ZipInfo("good/link")
    link.external_attr = (0o120777 << 16)
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(link, "../../outside")
    with pytest.raises(UnsafeArchiveError, match="points outside"):
        install(str(path), assume_yes=True)
    assert installed(home) == []
    assert not (tmp_path.parent / "evil").exists()


def test_internal_symlinks_are_kept_as_copies(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "links.tar"
    with tarfile.open(path, "w") as archive:
        for name, data in (("s/SKILL.md", b"---\nname: s\ndescription: d\n---\n"),
                           ("s/real.txt", b"content")):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
        link = tarfile.TarInfo("s/alias.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "real.txt"
        archive.addfile(link)
    dest = tmp_path / "out"
    extract_archive(path, dest)
    assert (dest / "s" / "alias.txt").is_symlink()
    install(str(path), assume_yes=True)
    alias = home / "skills" / "s" / "alias.txt"
    assert alias.read_text() == "content" and not alias.is_symlink()


# --------------------------------------------------------------------------- sync


def test_sync_a_local_registry_and_update_it(
    home: Path, skills_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_skill(skills_repo, "root-level")  # outside skills/: not part of the registry
    commit_all(skills_repo, "root skill")
    monkeypatch.setenv("MOCO_SKILLS_REGISTRY_MY_TEAM", f"file://{skills_repo}")
    result = sync("my-team", assume_yes=True)
    assert installed(home) == sorted(FIXTURE_SKILLS)
    assert result.plan.source.subpath == "skills"
    assert [path for path, _ in result.plan.invalid] == ["skills/bad/SKILL.md"]
    write_skill(skills_repo / "skills", "new-skill", "Added later.")
    commit_all(skills_repo, "new skill")
    again = sync("MY_TEAM", assume_yes=True)
    assert "new-skill" in installed(home)
    assert {item.name for item in again.installed if item.overwrites} == set(FIXTURE_SKILLS)
    checkouts = list((home / "cache" / "skills" / "git").iterdir())
    assert len(checkouts) == 1, "the second sync updates the cached checkout"


def test_registries_from_config_yaml_and_defaults(
    home: Path, skills_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "config.yaml").write_text(
        f"skills:\n  registries:\n    team: file://{skills_repo}\n"
        "    community: https://example.com/other.git\n"
    )
    settings = skill_settings()
    assert settings.registries["anthropics"] == "https://github.com/anthropics/skills.git"
    assert settings.registries["community"] == "https://example.com/other.git"
    monkeypatch.setenv("MOCO_SKILLS_REGISTRY_COMMUNITY", "https://example.com/env.git")
    assert skill_settings().registries["community"] == "https://example.com/env.git"
    result = sync("team", dry_run=True)
    assert len(result.plan.skills) == 4 and installed(home) == []
    with pytest.raises(SkillSourceError, match="unknown skills registry 'nope'; known: "):
        sync("nope", assume_yes=True)
    (home / "config.yaml").write_text("skills: [1]\n")
    with pytest.raises(ConfigError, match="'skills' must be a mapping"):
        skill_settings()
    (home / "config.yaml").write_text("skills:\n  registries: {a: [1]}\n")
    with pytest.raises(ConfigError, match="registries"):
        skill_settings()


# --------------------------------------------------------------------------- uninstall


def test_uninstall(home: Path, fixtures: Path) -> None:
    install(str(fixtures / "skills" / "cli-builder"), assume_yes=True)
    removed = uninstall("cli-builder")
    assert removed == home / "skills" / "cli-builder"
    assert installed(home) == []
    with pytest.raises(SkillError, match="not installed"):
        uninstall("cli-builder")
    (home / "cache").mkdir()
    with pytest.raises(SkillSourceError, match="not a skill name"):
        uninstall("../cache")
    assert (home / "cache").is_dir()
