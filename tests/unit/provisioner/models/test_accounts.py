"""Roles, grants and what they allow."""

from __future__ import annotations

import pytest

from provisioner.models.accounts import Action, Grant, Role, User, parse_grants


def test_each_role_allows_its_own_actions() -> None:
    def can(role: Role, action: Action) -> bool:
        return User("u", (Grant(role),)).can(action, "lab")

    assert [a for a in Action if can(Role.VIEWER, a)] == [Action.VIEW]
    assert {a for a in Action if can(Role.TECHNICIAN, a)} == {
        Action.VIEW,
        Action.ENABLE,
        Action.COMPLY,
        Action.BUNDLES,
    }
    assert {a for a in Action if can(Role.HELPDESK, a)} == {
        Action.VIEW,
        Action.REPROVISION,
        Action.ROTATE_KEYS,
        Action.DECOMMISSION,
        Action.BUNDLES,
    }
    assert all(can(Role.ADMIN, a) for a in Action)


def test_a_scoped_grant_reaches_only_its_comuni() -> None:
    user = User("anna", (Grant(Role.HELPDESK, frozenset({"asolo", "bassano"})),))

    assert user.can(Action.REPROVISION, "asolo")
    assert not user.can(Action.REPROVISION, "castelfranco")
    assert user.can(Action.REPROVISION)  # some comune: the menu shows the entry
    assert user.comuni_for(Action.VIEW) == {"asolo", "bassano"}
    assert user.comuni_for(Action.ENABLE) == frozenset()


def test_grants_add_up_and_all_comuni_wins() -> None:
    user = User(
        "marco",
        (Grant(Role.VIEWER), Grant(Role.TECHNICIAN, frozenset({"asolo"}))),
    )

    assert user.comuni_for(Action.VIEW) is None
    assert user.can(Action.ENABLE, "asolo") and not user.can(Action.ENABLE, "bassano")


def test_admin_actions_need_an_admin_grant_on_all_comuni() -> None:
    scoped = User("piero", (Grant(Role.ADMIN, frozenset({"asolo"})),))

    assert scoped.can(Action.ENABLE, "asolo")
    assert not scoped.can(Action.ADMIN)
    assert User("root", (Grant(Role.ADMIN),)).can(Action.ADMIN)


def test_parse_grants_names_the_roles() -> None:
    assert parse_grants(["helpdesk", "viewer"], ["asolo"]) == (
        Grant(Role.HELPDESK, frozenset({"asolo"})),
        Grant(Role.VIEWER, frozenset({"asolo"})),
    )
    with pytest.raises(ValueError, match="unknown role 'root'; roles: admin, technician"):
        parse_grants(["root"], None)
    with pytest.raises(ValueError, match="at least one comune"):
        parse_grants(["viewer"], [])
