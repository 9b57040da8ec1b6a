"""Reading repository files without trusting them: patterns, symlinks, special files, caps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_gitops.repo.files import FileProblem, expand, read_capped


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x: 1\n")


def names(base: Path, pattern: str) -> list[str]:
    return [p.relative_to(base).as_posix() for p in expand(base, pattern)]


@pytest.mark.parametrize("folder", ["build[1]", "a*b", "c?d", "[!x]", "x[", "**"])
def test_the_base_folder_is_never_a_pattern(tmp_path: Path, folder: str) -> None:
    base = tmp_path / folder
    touch(base, "work-pools/a.yaml", "work-pools/b.yml", "teams/t/prefect.yaml")
    assert names(base, "work-pools/*.yaml") == ["work-pools/a.yaml"]
    assert names(base, "work-pools/*.y*ml") == ["work-pools/a.yaml", "work-pools/b.yml"]
    assert names(base, "**/prefect.yaml") == ["teams/t/prefect.yaml"]
    assert names(base, "teams/?/prefect.yaml") == ["teams/t/prefect.yaml"]


def test_glob_syntax_as_glob_writes_it(tmp_path: Path) -> None:
    touch(tmp_path, "prefect.yaml", "a/prefect.yaml", "a/b/prefect.yaml", ".hidden/prefect.yaml")
    touch(tmp_path, "p/.x.yaml", "p/y.yaml", "p/sub/z.yaml")
    assert names(tmp_path, "**/prefect.yaml") == [
        "a/b/prefect.yaml",
        "a/prefect.yaml",
        "prefect.yaml",
    ]
    assert names(tmp_path, "*/prefect.yaml") == ["a/prefect.yaml"]
    assert names(tmp_path, "p/*") == ["p/y.yaml"]  # no folders, no hidden files
    assert names(tmp_path, "p/.*") == ["p/.x.yaml"]
    assert names(tmp_path, "p/**") == ["p/sub/z.yaml", "p/y.yaml"]
    assert names(tmp_path, "nothing/*.yaml") == []
    assert names(tmp_path, "missing.yaml") == []


def test_an_unescaped_bracket_name_in_the_pattern_is_taken_as_written(tmp_path: Path) -> None:
    touch(tmp_path, "build[1]/prefect.yaml")
    assert names(tmp_path, "build[1]/prefect.yaml") == ["build[1]/prefect.yaml"]
    assert names(tmp_path, "build[[]1]/prefect.yaml") == ["build[1]/prefect.yaml"]


@pytest.mark.timeout(30)
def test_double_star_does_not_enter_symlinked_folders(tmp_path: Path) -> None:
    touch(tmp_path, "prefect.yaml", "team/prefect.yaml")
    for i in range(8):  # followed, these would make 8^40 paths before ELOOP stopped them
        os.symlink(".", tmp_path / f"self{i}")
        os.symlink("..", tmp_path / "team" / f"up{i}")
    assert names(tmp_path, "**/prefect.yaml") == ["prefect.yaml", "team/prefect.yaml"]
    assert names(tmp_path, "**") == ["prefect.yaml", "team/prefect.yaml"]


def test_broken_links_and_loops_are_named_so_reading_them_says_why(tmp_path: Path) -> None:
    os.symlink("loop.yaml", tmp_path / "loop.yaml")
    os.symlink("gone.yaml", tmp_path / "dangling.yaml")
    assert names(tmp_path, "*.yaml") == ["dangling.yaml", "loop.yaml"]
    assert names(tmp_path, "loop.yaml") == ["loop.yaml"]


def problem(path: Path, root: Path, cap: int = 1024) -> FileProblem:
    with pytest.raises(FileProblem) as caught:
        read_capped(path, root, cap=cap, name=f"file {path.name}")
    return caught.value


def test_reads_a_regular_file_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"x: 1\n")
    os.symlink("a.yaml", tmp_path / "link.yaml")
    assert read_capped(tmp_path / "link.yaml", tmp_path, cap=5, name="f") == b"x: 1\n"


@pytest.mark.timeout(30)
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    found = problem(tmp_path / "fifo.yaml", tmp_path)
    assert found.kind == "not_a_file"
    assert (
        found.message
        == "file fifo.yaml is not a regular file (a FIFO, socket or device), so it is not read"
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", ["/dev/zero", "/etc/hostname", "../outside.yaml"])
def test_a_link_leaving_the_root_is_refused(tmp_path: Path, target: str) -> None:
    (tmp_path / "outside.yaml").write_text("x: 1\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(target, repo / "a.yaml")
    found = problem(repo / "a.yaml", repo)
    assert found.kind == "outside"
    assert "outside the repository" in found.message


@pytest.mark.timeout(30)
def test_a_device_inside_the_root_is_refused(tmp_path: Path) -> None:
    # the root itself is /dev here: the device is "inside", and still never read
    found = problem(Path("/dev/zero"), Path("/dev"))
    assert found.kind == "not_a_file"


def test_symlink_loops(tmp_path: Path) -> None:
    os.symlink("self.yaml", tmp_path / "self.yaml")
    os.symlink("b.yaml", tmp_path / "a.yaml")
    os.symlink("a.yaml", tmp_path / "b.yaml")
    for name in ("self.yaml", "a.yaml"):
        found = problem(tmp_path / name, tmp_path)
        assert (found.kind, found.message) == ("unreadable", f"file {name} is a symlink loop")


def test_missing_directory_and_over_the_cap(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "big.yaml").write_bytes(b"#" * (3 * 1048576 + 1))
    assert problem(tmp_path / "none.yaml", tmp_path).kind == "missing"
    assert (
        problem(tmp_path / "dir.yaml", tmp_path).message
        == "file dir.yaml is a directory, not a file"
    )
    big = problem(tmp_path / "big.yaml", tmp_path, cap=2 * 1048576)
    assert (big.kind, big.message) == ("too_large", "file big.yaml is 3.0 MiB, over the 2 MiB cap")


def test_patterns_naming_nothing(tmp_path: Path) -> None:
    touch(tmp_path, "a.yaml")
    for pattern in ("", ".", "a\0.yaml", "x\0/*.yaml", "*\0"):
        assert expand(tmp_path, pattern) == [], pattern
    assert problem(tmp_path / "a\0.yaml", tmp_path).kind == "missing"
