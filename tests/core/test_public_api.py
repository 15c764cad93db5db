import subprocess
import sys

import pytest

import unimsg


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in dir(unimsg) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(unimsg, name)).__name__ == "module"}
    assert sorted(unimsg.__all__) == unimsg.__all__
    assert set(unimsg.__all__) - {"__version__"} == public - modules


def test_every_public_name_resolves_from_its_module() -> None:
    code = (
        "import unimsg, sys; "
        "missing = [n for n in unimsg.__all__ if getattr(unimsg, n, None) is None]; "
        "from unimsg import *; "
        "g = globals(); print(missing, sorted(n for n in unimsg.__all__ if n not in g))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "[]"]
    with pytest.raises(AttributeError, match="no attribute 'Clinet'"):
        unimsg.Clinet  # type: ignore[attr-defined]  # noqa: B018


def test_import_is_lazy() -> None:
    heavy = (
        "sqlite3",
        "markdown_it",
        "anyio",
        "attrs",
        "unimsg._bot",
        "unimsg._relay",
        "unimsg._client",
        "unimsg_matrix",
        "unimsg_signal",
    )
    code = f"import sys, unimsg; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = (
        "import sys; from unimsg import Client, Content; "
        "print([m for m in ('unimsg._bot', 'unimsg._relay', 'markdown_it') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_does_not_pull_network_libraries() -> None:
    code = (
        "import sys, unimsg, unimsg.testing; "
        "bad = [m for m in ('nio', 'aiohttp', 'markdown_it', 'unimsg_matrix', 'unimsg_signal') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_errors_form_one_tree() -> None:
    errors = [getattr(unimsg, n) for n in unimsg.__all__ if n.endswith("Error")]
    assert all(issubclass(e, unimsg.UnimsgError) for e in errors)
    assert issubclass(unimsg.InvalidAddressError, ValueError)
    assert issubclass(unimsg.RateLimitedError, unimsg.RemoteError)
    assert issubclass(unimsg.EncryptionRequiredError, unimsg.EncryptionError)


def test_missing_adapter_says_what_to_install() -> None:
    import pytest

    with pytest.raises(unimsg.AdapterNotFoundError, match="installed: "):
        unimsg.adapter_class("carrier-pigeon")


def test_fake_adapter_is_registered() -> None:
    from unimsg.testing import FakeAdapter

    assert unimsg.adapter_class("fake") is FakeAdapter
    assert {"fake", "matrix", "signal"} <= set(unimsg.adapter_names())


def test_the_fake_network_needs_no_pytest() -> None:
    code = "import sys, unimsg.testing; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    from unimsg.testing import AdapterConformance

    assert AdapterConformance.__name__ == "AdapterConformance"
