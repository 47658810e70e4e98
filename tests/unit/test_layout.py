"""Guards on the repository layout and the documented configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from torrent_gateway.config import ConfigError, load_settings
from torrent_gateway.config_docs import render_commented_yaml

ROOT = Path(__file__).resolve().parents[2]


def test_no_top_level_folder_shadows_a_stdlib_module() -> None:
    # A folder without __init__.py is at most a namespace portion, which never wins over a real
    # module; a regular package or a .py file at the top level would shadow the stdlib.
    shadowing = {
        p.stem for p in ROOT.iterdir() if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"
    } & set(sys.stdlib_module_names)
    assert not shadowing
    probe = subprocess.run(
        [sys.executable, "-c", "import operator, sys; print(operator.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(ROOT) not in probe.stdout, "the top-level operator/ folder shadows the stdlib module"


def test_packages_live_under_src_folders() -> None:
    import torrent_gateway
    import torrent_gateway_operator

    assert Path(torrent_gateway.__file__).parent == ROOT / "workloads/src/torrent_gateway"
    assert (
        Path(next(iter(torrent_gateway_operator.__path__))) == ROOT / "operator/src/torrent_gateway_operator"
    )


def test_config_yaml_documents_every_key_with_its_default() -> None:
    committed = (ROOT / "configs/config.yaml").read_text()
    assert committed == render_commented_yaml(), "regenerate configs/config.yaml with `make config`"
    for line_no, line in enumerate(committed.splitlines()):
        if line.strip() and not line.lstrip().startswith("#") and ":" in line:
            previous = committed.splitlines()[line_no - 1].strip()
            assert previous.startswith("#"), f"key without comment: {line}"
    assert load_settings(ROOT / "configs/config.yaml").storage.chunk_size == 2 * 1024 * 1024


def test_env_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGW_STORAGE__BLOB_THRESHOLD", "12345")
    monkeypatch.setenv("TGW_AUTH__ADMIN_PUBKEYS", '["' + "a" * 64 + '"]')
    settings = load_settings(ROOT / "configs/config.yaml")
    assert settings.storage.blob_threshold == 12345
    assert settings.auth.admin_pubkeys == ["a" * 64]


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("TGW_STORAGE__CHUNK_SIZE", "1000", "storage.chunk_size"),
        ("TGW_GATEWAY__PORT", "70000", "gateway.port"),
        ("TGW_STORAGE__BACKEND", "ftp", "storage.backend"),
        ("TGW_AUTH__ADMIN_PUBKEYS", '["nothex"]', "auth.admin_pubkeys"),
        ("TGW_GATEWAY__PUBLIC_URL", "gw.example.org", "gateway.public_url"),
    ],
)
def test_invalid_config_names_the_key(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert named in str(caught.value) and env in str(caught.value)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("storage:\n  chunk_sise: 4096\n")
    with pytest.raises(ConfigError, match="storage.chunk_sise"):
        load_settings(config)


def test_secrets_are_redacted() -> None:
    settings = load_settings(None, storage={"s3": {"secret_key": "hunter2"}})
    assert "hunter2" not in str(settings.redacted())
