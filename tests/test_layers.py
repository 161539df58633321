"""The rules of the house: which layer may import which, read from the code's imports (import-linter).

The contracts live in pyproject.toml, so `lint-imports` and these tests check the same rules; a chain that
breaks one is printed whole, indirect imports included.
"""

from __future__ import annotations

import tomllib

import pytest
from importlinter import configuration
from importlinter.application import use_cases

from config import BASE_DIR

pytestmark = pytest.mark.pure
CONTRACTS = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


@pytest.fixture(scope="module")
def options():
    configuration.configure()
    user_options = use_cases.read_user_options(str(BASE_DIR / "pyproject.toml"))
    use_cases._register_contract_types(user_options)
    return user_options


@pytest.mark.parametrize("contract", CONTRACTS, ids=[contract["id"] for contract in CONTRACTS])
def test_layer_rule_holds(options, contract):
    report = use_cases.create_report(options, (contract["id"],), cache_dir=None)
    broken = [check.metadata for found, check in report.get_contracts_and_checks() if not check.kept]
    assert not broken, f"{contract['name']}: {broken}"


def test_every_layer_has_a_rule():
    sources = {module for contract in CONTRACTS for module in contract["source_modules"]}
    assert sources == {"shop.domain", "shop.lanes", "shop.storage", "workers"}
