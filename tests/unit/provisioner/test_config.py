"""Settings resolution: config file, then environment, then flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.config import CONTENT_DIR, Settings, load_settings
from provisioner.errors import ExitCode, InputError


def _toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_xdg_dirs(tmp_path: Path) -> None:
    settings = load_settings()

    assert settings.state_dir == tmp_path / "xdg-state" / "provisioner"
    assert settings.config_dir == tmp_path / "xdg-config" / "provisioner"
    assert settings.content_dir == CONTENT_DIR
    assert settings.inventory_dir == CONTENT_DIR / "inventory"
    assert settings.keep_runs == 20
    assert settings.vault_password_file is None
    assert settings.ansible_cfg == CONTENT_DIR / "ansible.cfg"
    assert settings.playbooks_dir == CONTENT_DIR / "playbooks"
    assert settings.comune_dir("lab") == CONTENT_DIR / "inventory" / "lab"
    assert settings.default_vault_password_file == settings.config_dir / "vault-password"


def test_file_then_environment_then_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _toml(
        tmp_path / "config.toml",
        'state_dir = "/srv/from-file"\ninventory_dir = "/srv/inv-file"\nkeep_runs = 5\n',
    )

    from_file = load_settings(config)
    assert from_file.state_dir == Path("/srv/from-file")
    assert from_file.inventory_dir == Path("/srv/inv-file")
    assert from_file.keep_runs == 5

    monkeypatch.setenv("PROVISIONER_STATE_DIR", "/srv/from-env")
    from_env = load_settings(config)
    assert from_env.state_dir == Path("/srv/from-env")
    assert from_env.inventory_dir == Path("/srv/inv-file")
    assert from_env.keep_runs == 5

    from_flag = load_settings(config, {"state_dir": Path("/srv/from-flag"), "inventory_dir": None})
    assert from_flag.state_dir == Path("/srv/from-flag")
    # A flag left unset (None) does not mask the file's value.
    assert from_flag.inventory_dir == Path("/srv/inv-file")
    assert from_flag.keep_runs == 5


def test_default_config_file_is_read_from_xdg_config_home(tmp_path: Path) -> None:
    _toml(tmp_path / "xdg-config" / "provisioner" / "config.toml", "keep_runs = 3\n")

    assert load_settings().keep_runs == 3


def test_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISIONER_KEEP_RUNS", "7")
    monkeypatch.setenv("PROVISIONER_VAULT_PASSWORD_FILE", "/run/secrets/vault")
    monkeypatch.setenv("PROVISIONER_INVENTORY_DIR", "/srv/inventory")

    settings = load_settings()

    assert settings.keep_runs == 7
    assert settings.vault_password_file == Path("/run/secrets/vault")
    assert settings.inventory_dir == Path("/srv/inventory")


def test_empty_environment_value_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISIONER_KEEP_RUNS", "")

    assert load_settings().keep_runs == 20


def test_content_dir_implies_inventory_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISIONER_CONTENT_DIR", "/opt/provisioner")

    settings = load_settings()

    assert settings.content_dir == Path("/opt/provisioner")
    assert settings.inventory_dir == Path("/opt/provisioner/inventory")
    assert settings.playbooks_dir == Path("/opt/provisioner/playbooks")


def test_explicit_inventory_dir_wins_over_content_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISIONER_CONTENT_DIR", "/opt/provisioner")

    settings = load_settings(None, {"inventory_dir": Path("/srv/inventory")})

    assert settings.inventory_dir == Path("/srv/inventory")


def test_invalid_keep_runs_in_file_names_the_file(tmp_path: Path) -> None:
    config = _toml(tmp_path / "config.toml", "keep_runs = 0\n")

    with pytest.raises(InputError) as info:
        load_settings(config)

    assert str(info.value).startswith(f"{config}: keep_runs: ")
    assert "greater than or equal to 1" in str(info.value)
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_invalid_keep_runs_in_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _toml(tmp_path / "config.toml", "keep_runs = 4\n")
    monkeypatch.setenv("PROVISIONER_KEEP_RUNS", "many")

    with pytest.raises(InputError) as info:
        load_settings(config)

    assert str(info.value).startswith("environment PROVISIONER_KEEP_RUNS: keep_runs: ")


def test_invalid_keep_runs_from_flag_names_the_option() -> None:
    with pytest.raises(InputError) as info:
        load_settings(None, {"keep_runs": -1})

    assert str(info.value).startswith("option --keep-runs: keep_runs: ")


def test_unknown_key_in_file_names_file_and_key(tmp_path: Path) -> None:
    config = _toml(tmp_path / "config.toml", 'statedir = "/srv/typo"\n')

    with pytest.raises(InputError) as info:
        load_settings(config)

    assert str(info.value).startswith(f"{config}: statedir: ")


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    config = _toml(tmp_path / "config.toml", "keep_runs = = 3\n")

    with pytest.raises(InputError, match="cannot read config") as info:
        load_settings(config)

    assert str(info.value).startswith(f"{config}: ")


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(InputError, match="config file not found") as info:
        load_settings(missing)

    assert str(info.value).startswith(str(missing))


def test_settings_are_frozen_and_strict(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)

    with pytest.raises(ValueError, match="frozen"):
        settings.keep_runs = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="Extra inputs"):
        Settings(stat_dir=tmp_path)  # type: ignore[call-arg]


def test_accel_is_on_by_default_and_off_by_config_key_or_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().accel is True
    assert load_settings(_toml(tmp_path / "c.toml", "accel = false\n")).accel is False
    monkeypatch.setenv("PROVISIONER_ACCEL", "0")
    assert load_settings().accel is False


def test_bad_accel_value_names_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISIONER_ACCEL", "maybe")

    with pytest.raises(InputError, match=r"environment PROVISIONER_ACCEL: accel: "):
        load_settings()


def test_fact_cache_lives_in_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")

    assert settings.fact_cache_dir == tmp_path / "state" / "facts"


def test_the_job_queue_is_chosen_in_the_config_file(tmp_path: Path) -> None:
    config = _toml(
        tmp_path / "c.toml",
        'executor = "queue"\nredis_url = "rediss://provisioner@redis.example.it:6380/0"\n'
        'queue_checks = "nightly"\n',
    )
    settings = load_settings(config)

    assert settings.executor == "queue"
    assert settings.redis_url == "rediss://provisioner@redis.example.it:6380/0"
    assert (settings.queue_checks, settings.queue_changes) == ("nightly", "provisioner-changes")


def test_a_redis_password_in_the_url_is_refused_naming_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROVISIONER_REDIS_URL", "redis://provisioner:hunter2@127.0.0.1:6379/0")
    with pytest.raises(InputError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("environment PROVISIONER_REDIS_URL: redis_url:")
    assert "carries a password" in message and "hunter2" not in message
