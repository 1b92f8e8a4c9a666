"""`check`, the first thing IT runs: the chain walked link by link, as a subprocess, on a good setup and
with each link broken in turn; and the dry run checking the board the same way."""

from __future__ import annotations

import json

import pytest

from core.db.migrate import upgrade
from tests.helpers import BOARD, make_world
from tests.test_exit_codes import database_url, ordersync, sandbox, settings  # noqa: F401 - the fixture

LINKS = [
    "settings",
    "database",
    "OrderSync's tables",
    "ORDERS_UNIFIED",
    "monday token",
    "board",
    "mapped columns",
    "subitems board",
    "labels",
]


def checked(tmp_path, config, **options) -> tuple[int, dict[str, dict]]:
    run = ordersync(tmp_path, "check", "--config", str(config), "--json", **options)
    report = json.loads(run.out)
    assert report["exit_code"] == run.code
    return run.code, {c["name"]: c for c in report["checks"]}


def states(checks: dict[str, dict]) -> list[str]:
    return [checks[name]["state"] for name in LINKS]


def test_a_good_setup_passes_every_link(engine, sandbox, tmp_path):
    make_world(engine, n_orders=20, seed=4, hostile=False)
    config = settings(tmp_path, database_url(engine), sandbox)
    code, checks = checked(tmp_path, config)
    assert code == 0 and states(checks) == ["ok"] * len(LINKS), checks
    assert "size columns" in checks["ORDERS_UNIFIED"]["detail"]
    plain = ordersync(tmp_path, "check", "--config", str(config))
    assert plain.code == 0 and "Everything OrderSync needs is in place." in plain.out


def test_a_token_monday_refuses_is_3_and_skips_the_board(engine, sandbox, tmp_path):
    make_world(engine, n_orders=5, seed=4, hostile=False)
    code, checks = checked(tmp_path, settings(tmp_path, database_url(engine), sandbox), token="revoked-token")
    assert code == 3 and states(checks) == ["ok"] * 4 + ["failed"] + ["skipped"] * 4
    assert "token set" in checks["monday token"]["fix"]


def test_no_token_is_2(engine, sandbox, tmp_path):
    make_world(engine, n_orders=5, seed=4, hostile=False)
    code, checks = checked(tmp_path, settings(tmp_path, database_url(engine), sandbox), token="")
    assert (
        code == 2
        and checks["monday token"]["state"] == "failed"
        and "no monday API token" in checks["monday token"]["detail"]
    )


def test_a_board_that_does_not_exist_is_2(engine, sandbox, tmp_path):
    make_world(engine, n_orders=5, seed=4, hostile=False)
    code, checks = checked(tmp_path, settings(tmp_path, database_url(engine), sandbox, board="123"))
    assert code == 2 and states(checks)[5:] == ["failed", "skipped", "skipped", "skipped"]
    assert "board 123 does not exist" in checks["board"]["detail"]


def test_a_mapped_title_missing_on_the_board_is_2(engine, sandbox, tmp_path):
    make_world(engine, n_orders=5, seed=4, hostile=False)
    sandbox.delete_column(BOARD, "PO NUMBER")
    code, checks = checked(tmp_path, settings(tmp_path, database_url(engine), sandbox))
    assert code == 2 and checks["mapped columns"]["state"] == "failed"
    assert "PO NUMBER" in checks["mapped columns"]["detail"] and checks["labels"]["state"] == "skipped"


def test_a_status_label_the_data_needs_is_missing_is_2(engine, sandbox, tmp_path):
    make_world(engine, n_orders=5, seed=4, hostile=False)
    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")
    code, checks = checked(tmp_path, settings(tmp_path, database_url(engine), sandbox))
    assert code == 2 and checks["labels"]["state"] == "failed"
    assert "ORDER TYPE has no label 'RECEIVED'" in checks["labels"]["detail"]


def test_tables_not_upgraded_are_2(engine, sandbox, tmp_path):
    make_world(engine, n_orders=5, seed=4, hostile=False)
    from tests.test_migrations import _to_revision

    _to_revision(engine, "0001")
    code, checks = checked(tmp_path, settings(tmp_path, database_url(engine), sandbox))
    assert code == 2 and checks["OrderSync's tables"]["state"] == "failed"
    assert "db upgrade" in checks["OrderSync's tables"]["fix"]
    upgrade(engine)


def test_a_database_that_cannot_be_reached_is_3(sqlite_engine, sandbox, tmp_path):
    url = f"sqlite:///{(tmp_path / 'no such folder' / 'orders.db').as_posix()}"
    code, checks = checked(tmp_path, settings(tmp_path, url, sandbox))
    assert code == 3 and states(checks) == ["ok", "failed"] + ["skipped"] * 7


def test_no_settings_file_is_2(tmp_path):
    code, checks = checked(tmp_path, tmp_path / "missing.toml")
    assert code == 2 and checks["settings"]["state"] == "failed" and "missing.toml" in checks["settings"]["detail"]


@pytest.mark.parametrize("token", ["", "token-given"])
def test_the_dry_run_checks_the_board_when_it_has_a_token(sqlite_engine, sandbox, tmp_path, token):
    from tests.helpers import SANDBOX_TOKEN

    make_world(sqlite_engine, n_orders=5, seed=4, hostile=False)
    sandbox.delete_column(BOARD, "PO NUMBER")
    config = settings(tmp_path, database_url(sqlite_engine), sandbox)
    run = ordersync(
        tmp_path, "sync", "--config", str(config), "--all", "--dry-run", token=SANDBOX_TOKEN if token else ""
    )
    if token:
        assert run.code == 2 and "FAIL  mapped columns" in run.out and "PO NUMBER" in run.out
    else:
        assert run.code == 0 and "monday not checked: no token" in run.out
