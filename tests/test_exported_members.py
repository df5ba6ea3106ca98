"""The curated public surface stays deliberate (as httpx guards its __all__)."""

import prefect_artifacts


def test_all_is_sorted_and_complete() -> None:
    public = sorted(n for n in dir(prefect_artifacts) if not n.startswith("_") and n[0].isupper())
    assert prefect_artifacts.__all__ == sorted(prefect_artifacts.__all__, key=lambda n: (n[0].islower(), n))
    classes = [n for n in prefect_artifacts.__all__ if n[0].isupper()]
    assert classes == public
    assert callable(prefect_artifacts.register_serializer)


def test_every_exported_name_has_a_docstring_with_an_example() -> None:
    for name in prefect_artifacts.__all__:
        doc = getattr(prefect_artifacts, name).__doc__ or ""
        assert "Example" in doc, f"{name} lacks an Example: section"
