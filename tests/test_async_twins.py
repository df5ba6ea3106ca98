"""Every sync method has a written-out ``a``-twin with the same parameters (so type checkers
see them), and the `ArtifactRegistry` block exposes the whole `Registry` surface.

The twins and the block's delegating methods are spelled out by hand; these tests are
what keeps them in step with the methods they mirror.
"""

from __future__ import annotations

import inspect
from typing import Any
from unittest import mock

import pytest

from prefect_artifacts.blocks import ArtifactRegistry
from prefect_artifacts.models import Artifact
from prefect_artifacts.registry.base import Registry

# Public sync methods that have no twin, and why. A name here that is not a method fails.
NO_TWIN: dict[type, dict[str, str]] = {
    Registry: {
        "iter": "an iterator: stream it with iterate_in_thread",
        "read": "an iterator: stream it with iterate_in_thread (Artifact.aas_stream does)",
        "bundle": "an iterator: stream it with iterate_in_thread",
        "spec": "no I/O: describes the registry",
    },
    ArtifactRegistry: {
        "get_registry": "the accessor every other method goes through",
        "iter": "an iterator, as on Registry",
        "read": "an iterator, as on Registry",
        "bundle": "an iterator, as on Registry",
    },
    Artifact: {
        "with_files": "no I/O",
        "bind": "no I/O",
        "stream_chunk_size": "no I/O",
        "to_dict": "no I/O",
        "read_only": "no I/O: sets a flag",
        "get_category": "no I/O: reads the run links it holds",
        "stage_metadata": "no I/O: stages for commit (acommit sends)",
        "stage_alias": "no I/O: stages for commit (acommit sends)",
    },
}
# Registry methods the block does not mirror: Block.delete/adelete remove saved blocks
# (delete_artifact stands for Registry.delete), and a block pickles as its registry's spec.
NOT_ON_BLOCK = {"delete", "adelete", "spec"}


def _own_methods(cls: type) -> dict[str, Any]:
    """Public functions defined in ``cls`` itself (not inherited, not properties, not pydantic's)."""
    return {name: value for name, value in vars(cls).items()
            if not name.startswith(("_", "model_")) and inspect.isfunction(value)}


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


def _params(fn: Any) -> list[tuple[str, Any, Any, Any]]:
    """(name, kind, default, annotation) of every parameter but ``self``; annotations as written."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    return [(p.name, p.kind, p.default, p.annotation) for p in params]


def _twin_problems(cls: type) -> list[str]:
    methods = _own_methods(cls)
    no_twin = NO_TWIN[cls]
    problems = [f"{cls.__name__}.{name} is listed in NO_TWIN but is not a sync method"
                for name in no_twin if name not in methods or _is_async(methods[name])]
    for name, sync in methods.items():
        if _is_async(sync) or name in no_twin:
            continue
        twin = methods.get(f"a{name}")
        where = f"{cls.__name__}.a{name}"
        if twin is None:
            problems.append(f"{where} is missing (or list {name!r} in NO_TWIN with a reason)")
            continue
        returns = inspect.signature(sync).return_annotation
        if returns.startswith("Iterator["):
            if not inspect.isasyncgenfunction(twin):
                problems.append(f"{where} is not an async generator function")
            returns = "Async" + returns
        elif not inspect.iscoroutinefunction(twin):
            problems.append(f"{where} is not a coroutine function")
        if _params(twin) != _params(sync):
            problems.append(f"{where} parameters {_params(twin)} differ from {name}'s {_params(sync)}")
        if inspect.signature(twin).return_annotation != returns:
            problems.append(f"{where} returns {inspect.signature(twin).return_annotation!r}, not {returns!r}")
    return problems


@pytest.mark.parametrize("cls", [Registry, ArtifactRegistry, Artifact], ids=lambda c: c.__name__)
def test_every_public_sync_method_has_an_async_twin_with_the_same_parameters(cls: type) -> None:
    assert _twin_problems(cls) == []


def test_the_block_mirrors_every_public_registry_method_with_its_signature() -> None:
    block = _own_methods(ArtifactRegistry)
    problems = []
    for name, method in _own_methods(Registry).items():
        if name in NOT_ON_BLOCK:
            assert name not in block, f"ArtifactRegistry.{name} is not meant to be the block's own"
            continue
        if name not in block:
            problems.append(f"ArtifactRegistry.{name} is missing")
        elif inspect.signature(block[name]) != inspect.signature(method):
            problems.append(f"ArtifactRegistry.{name}{inspect.signature(block[name])} differs from "
                            f"Registry.{name}{inspect.signature(method)}")
        elif _is_async(block[name]) != _is_async(method):
            problems.append(f"ArtifactRegistry.{name} is not async like Registry.{name}")
    assert problems == []


def _sentinel_call(fn: Any) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """Arguments for ``fn`` (a distinct object for each parameter) and what they bind to."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for p in list(inspect.signature(fn).parameters.values())[1:]:
        value = object()
        if p.kind is p.VAR_KEYWORD:
            kwargs["extra_option"] = value
            expected[p.name] = {"extra_option": value}
        elif p.kind is p.KEYWORD_ONLY:
            kwargs[p.name] = value
            expected[p.name] = value
        else:
            args.append(value)
            expected[p.name] = value
    return args, kwargs, expected


def _bound(fn: Any, call: Any) -> dict[str, Any]:
    """The arguments of a recorded ``call``, by ``fn``'s parameter names (``self`` left out)."""
    arguments = dict(inspect.signature(fn).bind(None, *call.args, **call.kwargs).arguments)
    del arguments["self"]
    return arguments


async def test_twins_pass_every_argument_to_their_sync_method() -> None:
    for cls, methods in ((Registry, _own_methods(Registry)), (Artifact, _own_methods(Artifact))):
        for name, twin in methods.items():
            if not name.startswith("a") or not _is_async(twin) or name[1:] not in methods:
                continue
            sync = methods[name[1:]]
            fake = mock.Mock()
            getattr(fake, name[1:]).return_value = iter(())
            args, kwargs, expected = _sentinel_call(twin)
            result = twin(fake, *args, **kwargs)
            if inspect.isasyncgen(result):
                assert [chunk async for chunk in result] == []
            else:
                await result
            call = getattr(fake, name[1:]).call_args
            assert call is not None, f"{cls.__name__}.{name} did not call {name[1:]}"
            assert _bound(sync, call) == expected, f"{cls.__name__}.{name} passed {call}"


async def test_the_block_passes_every_argument_to_its_registry() -> None:
    block = ArtifactRegistry()
    registry = mock.create_autospec(Registry, instance=True)
    block._registry = registry  # get_registry() gives it back on every call
    for name, method in _own_methods(ArtifactRegistry).items():
        if not hasattr(Registry, name) or name in NOT_ON_BLOCK:
            continue
        args, kwargs, expected = _sentinel_call(method)
        result = getattr(block, name)(*args, **kwargs)
        if inspect.iscoroutine(result):
            await result
        call = getattr(registry, name).call_args
        assert call is not None, f"ArtifactRegistry.{name} did not call Registry.{name}"
        assert _bound(getattr(Registry, name), call) == expected, f"{name} passed {call}"
