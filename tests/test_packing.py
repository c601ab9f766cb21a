"""The check of ``quantize=True`` builds' fast path (tvcompat._models.packing): packing the
build throws away is skipped, the packing the model keeps is torch's own, and anything that
could see a deferred packing makes the build torchvision's. Real torch quantized modules
throughout (``test_fast_build.py`` compares every quantized builder's two builds)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from tvcompat._models import fastload, packing
from tvcompat.errors import TvcompatError

try:
    import torch.ao.nn.quantized as nnq
except ImportError:  # torch 1.9: before torch.ao
    import torch.nn.quantized as nnq  # type: ignore[no-redef]

pytestmark = pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")


def _weight() -> Any:
    w = torch.linspace(-1, 1, 32).reshape(4, 8)
    return torch.quantize_per_tensor(w, 0.01, 0, torch.qint8)


def _layer() -> Any:
    """A quantized linear layer packed twice (a zero weight when created, then ``_weight``):
    the first packing is thrown away."""
    layer = nnq.Linear(8, 4)
    layer.set_weight_bias(_weight(), torch.arange(4.0))
    return layer


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """torch's ``linear_prepack``, counting the packings it does."""
    original = torch.ops.quantized.linear_prepack
    calls: list[Any] = []

    def linear_prepack(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.ops.quantized, "linear_prepack", linear_prepack)
    return calls


def test_only_the_kept_packing_runs(counted: list[Any]) -> None:
    model = packing.attempt(_layer)
    assert fastload.last_outcome() == "fast"
    assert len(counted) == 1  # the zero weight's packing was skipped
    packed = model._packed_params._packed_params
    assert type(packed) is torch._C.ScriptObject  # torch's own, in the module
    plain = _layer()
    assert len(counted) - 1 >= 2  # torch's own way packs more than once
    weight, bias = model._weight_bias()
    plain_weight, plain_bias = plain._weight_bias()
    assert torch.equal(weight.int_repr(), plain_weight.int_repr())
    assert torch.equal(bias, plain_bias)
    x = torch.quantize_per_tensor(torch.linspace(0, 1, 16).reshape(2, 8), 0.1, 0, torch.quint8)
    assert torch.equal(model(x).int_repr(), plain(x).int_repr())


def test_a_deferred_packing_looks_and_acts_like_torchs(counted: list[Any]) -> None:
    seen: list[Any] = []

    def make() -> Any:
        layer = _layer()
        packed = layer._packed_params._packed_params
        seen.append(isinstance(packed, torch._C.ScriptObject))
        seen.append(layer._weight_bias()[1].tolist())  # a use: it packs now
        del packed
        return layer

    packing.attempt(make)
    assert fastload.last_outcome() == "fast"
    assert seen == [True, [0.0, 1.0, 2.0, 3.0]]
    assert len(counted) == 1


def test_a_packing_held_elsewhere_makes_the_build_plain() -> None:
    stash: list[Any] = []

    def make() -> Any:
        layer = nnq.Linear(8, 4)
        stash.append(layer._packed_params._packed_params)  # the zero weight's, then dropped
        layer.set_weight_bias(_weight(), None)
        return layer

    torch.manual_seed(3)
    before = torch.get_rng_state()

    def draws_then_make() -> Any:
        torch.rand(3)  # set back when the attempt is abandoned
        return make()

    assert packing.attempt(draws_then_make) is None
    assert fastload.last_outcome() == "plain: a packed weight is held outside the model's modules"
    assert torch.equal(torch.get_rng_state(), before)
    with pytest.raises(TvcompatError, match="abandoned fast build"):
        stash[0].unpack()  # never packed: closed
    del stash[:]


def test_a_weight_changed_after_packing_makes_the_build_plain() -> None:
    def make() -> Any:
        layer = nnq.Linear(8, 4)
        bias = torch.zeros(4)
        layer.set_weight_bias(_weight(), bias)
        bias.add_(1.0)  # after it was packed: a deferred packing would see 1, torch's 0
        return layer

    assert packing.attempt(make) is None
    assert fastload.last_outcome() == "plain: a weight changed after it was packed"


def test_other_threads_and_later_calls_pack_for_real() -> None:
    original = torch.ops.quantized.linear_prepack
    other: list[Any] = []

    def make() -> Any:
        thread = threading.Thread(
            target=lambda: other.append(torch.ops.quantized.linear_prepack(_weight(), None))
        )
        thread.start()
        thread.join()
        return _layer()

    packing.attempt(make)
    assert fastload.last_outcome() == "fast"
    assert type(other[0]) is torch._C.ScriptObject
    assert torch.ops.quantized.linear_prepack is original  # undone
    assert type(torch.ops.quantized.linear_prepack(_weight(), None)) is torch._C.ScriptObject


def test_only_ops_that_return_a_packed_object_are_deferred() -> None:
    assert packing._packs("linear_prepack")
    assert packing._packs("conv2d_prepack")
    assert not packing._packs("linear_unpack")  # returns tensors
    assert not packing._packs("no_such_op")
    assert not packing._reads_packed("no_such_op")


def test_a_deferred_packing_passed_to_another_op_is_packed_or_the_build_plain() -> None:
    """Torch's other ops either make the deferred packing real first (torch 2.14's Python
    dispatch of class-object arguments does, through its attributes) or fail, and then the
    build is torchvision's: never a result computed from anything but torch's packing."""
    x = torch.quantize_per_tensor(torch.linspace(0, 1, 16).reshape(2, 8), 0.1, 0, torch.quint8)
    out: list[Any] = []

    def make() -> Any:
        layer = _layer()
        out.append(torch.ops.quantized.linear(x, layer._packed_params._packed_params, 0.1, 0))
        return layer

    model = packing.attempt(make)
    expected = torch.ops.quantized.linear(x, _layer()._packed_params._packed_params, 0.1, 0)
    if model is None:
        assert fastload.last_outcome().startswith("plain: RuntimeError: ")
    else:
        assert fastload.last_outcome() == "fast"
        assert torch.equal(out[0].int_repr(), expected.int_repr())
    assert packing._reads_packed("linear_unpack")
    assert not packing._reads_packed("linear_prepack")
