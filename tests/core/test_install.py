"""`unimsg adapters` and adapter look-ups name what is missing, not a module deep inside."""

import pytest

import unimsg
from unimsg import _registry
from unimsg._cli import main


def test_every_installed_adapter_is_usable_here(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["fake", "usable"],
        ["matrix", "usable"],
        ["signal", "usable"],
    ]


def test_a_missing_distribution_is_named_with_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = _registry._installed
    monkeypatch.setattr(_registry, "_installed", lambda name: name != "sniffio" and installed(name))
    assert _registry.missing_distributions("matrix") == ("sniffio",)
    error = _registry._import_problem("matrix", ModuleNotFoundError(name="sniffio"))
    assert str(error) == (
        "the 'matrix' adapter needs sniffio (not installed): pip install 'unimsg[matrix]'"
    )


def test_nested_extras_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # matrix-nio[e2e] brings vodozemac: its absence is named too.
    installed = _registry._installed
    monkeypatch.setattr(
        _registry, "_installed", lambda name: name != "vodozemac" and installed(name)
    )
    assert _registry.missing_distributions("matrix") == ("vodozemac",)


def test_an_undeclared_module_is_called_a_packaging_bug() -> None:
    error = _registry._import_problem("signal", ModuleNotFoundError(name="somethingelse"))
    assert "module 'somethingelse' is missing although unimsg[signal] is installed" in str(error)


def test_status_of_a_broken_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> object:
        raise unimsg.AdapterNotFoundError(f"{name} is broken")

    monkeypatch.setattr(_registry, "adapter_class", broken)
    statuses = _registry.adapter_status()
    assert all(not s.usable and "is broken" in s.problem for s in statuses)
