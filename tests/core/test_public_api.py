import subprocess
import sys

import unimsg


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(unimsg) if not name.startswith("_")}
    modules = {name for name, value in vars(unimsg).items() if type(value).__name__ == "module"}
    assert sorted(unimsg.__all__) == unimsg.__all__
    assert set(unimsg.__all__) - {"__version__"} == public - modules


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
