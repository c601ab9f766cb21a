"""tvcompat's stand-ins for removed torchvision names whose behaviour is simple enough to
reproduce faithfully (the :data:`~tvcompat._removed.STANDIN` rows of :mod:`tvcompat._removed`).

Each is built on first use and cached, so every install serves the same object; the classes
that subclass a torchvision class are built only then (the class they extend is new enough
wherever they are served). Classes carry their old home as ``__module__`` so that pickles
made while they are served name the old path, as pickles made by the old release did.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from torch import Tensor, nn
from torch.nn import functional as F

from tvcompat._net import cache as _cache

__all__ = ["STANDINS", "SqueezeExcitation", "build", "gen_bar_updater"]


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision.models._utils._make_divisible (the same in every release)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # never round down by more than 10%
        new_v += divisor
    return new_v


class SqueezeExcitation(nn.Module):
    """``torchvision.models.mobilenetv3.SqueezeExcitation`` as torchvision 0.10 defined it
    (removed in 0.14): ``fc1`` -> ReLU -> ``fc2`` -> hardsigmoid, scaling the input; the same
    parameter names as every release's."""

    __module__ = "torchvision.models.mobilenetv3"

    def __init__(self, input_channels: int, squeeze_factor: int = 4) -> None:
        super().__init__()
        squeeze_channels = _make_divisible(input_channels // squeeze_factor, 8)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)

    def _scale(self, input: Tensor, inplace: bool) -> Tensor:
        scale = F.adaptive_avg_pool2d(input, 1)
        scale = self.fc1(scale)
        scale = self.relu(scale)
        scale = self.fc2(scale)
        return F.hardsigmoid(scale, inplace=inplace)

    def forward(self, input: Tensor) -> Tensor:
        scale = self._scale(input, True)
        return scale * input


def gen_bar_updater() -> Callable[[int, int, int], None]:
    """``torchvision.datasets.utils.gen_bar_updater`` (removed in 0.15): a
    ``urllib.request.urlretrieve`` report hook that drives a progress bar (torch.hub's
    ``tqdm``, as torchvision used)."""
    from torch.hub import (  # type: ignore[attr-defined]  # noqa: PLC0415 - only when called
        tqdm,
    )

    pbar = tqdm(total=None)

    def bar_update(count: int, block_size: int, total_size: int) -> None:
        if pbar.total is None and total_size:
            pbar.total = total_size
        progress_bytes = count * block_size
        pbar.update(progress_bytes - pbar.n)

    return bar_update


gen_bar_updater.__module__ = "torchvision.datasets.utils"


@functools.cache
def _conv_bn_activation() -> type[Any]:
    from torchvision.ops.misc import (  # noqa: PLC0415 - 0.13+ only: served from 0.14 on
        Conv2dNormActivation,
    )

    class ConvBNActivation(Conv2dNormActivation):  # type: ignore[misc]
        """``torchvision.models.mobilenetv2.ConvBNActivation``/``ConvBNReLU`` (removed in
        0.14): ``torchvision.ops.misc.Conv2dNormActivation`` whose ``norm_layer`` and
        ``activation_layer`` default to ``BatchNorm2d`` and ``ReLU6``, as 0.12-0.13 defined
        it; 0.10's ``in_planes=``/``out_planes=`` keywords are accepted too."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            for old, new in (("in_planes", "in_channels"), ("out_planes", "out_channels")):
                if old in kwargs:
                    kwargs[new] = kwargs.pop(old)
            if kwargs.get("norm_layer") is None:
                kwargs["norm_layer"] = nn.BatchNorm2d
            if kwargs.get("activation_layer") is None:
                kwargs["activation_layer"] = nn.ReLU6
            super().__init__(*args, **kwargs)

    ConvBNActivation.__module__ = "torchvision.models.mobilenetv2"
    ConvBNActivation.__qualname__ = "ConvBNActivation"
    return ConvBNActivation


@functools.cache
def _kinetics400() -> type[Any]:
    from torchvision.datasets.kinetics import (  # noqa: PLC0415 - loaded with torchvision.datasets
        Kinetics,
    )

    class Kinetics400(Kinetics):  # type: ignore[misc]
        """``torchvision.datasets.Kinetics400`` (removed in 0.14): ``Kinetics`` over the
        legacy layout (each folder of ``root`` is a class; clips come as
        ``Tensor[T, H, W, C]``), with 0.10's positional order. ``num_classes``, ``split``,
        ``download`` and ``num_download_workers`` are refused, as 0.12-0.13 refused them:
        use ``Kinetics`` for those."""

        def __init__(  # noqa: PLR0917 - 0.10's positional order
            self,
            root: Any,
            frames_per_clip: int,
            step_between_clips: int = 1,
            frame_rate: int | None = None,
            extensions: tuple[str, ...] = ("avi", "mp4"),
            transform: Callable[..., Any] | None = None,
            _precomputed_metadata: dict[str, Any] | None = None,
            num_workers: int = 1,
            _video_width: int = 0,
            _video_height: int = 0,
            _video_min_dimension: int = 0,
            _audio_samples: int = 0,
            _audio_channels: int = 0,
            **kwargs: Any,
        ) -> None:
            refused = ("num_classes", "split", "download", "num_download_workers")
            if any(kwargs.pop(name, None) is not None for name in refused):
                raise RuntimeError(
                    "Usage of 'num_classes', 'split', 'download', or 'num_download_workers' "
                    "is not supported in Kinetics400. Please use Kinetics instead."
                )
            super().__init__(
                root=root,
                frames_per_clip=frames_per_clip,
                step_between_clips=step_between_clips,
                frame_rate=frame_rate,
                extensions=extensions,
                transform=transform,
                _precomputed_metadata=_precomputed_metadata,
                num_workers=num_workers,
                _video_width=_video_width,
                _video_height=_video_height,
                _video_min_dimension=_video_min_dimension,
                _audio_samples=_audio_samples,
                _audio_channels=_audio_channels,
                _legacy=True,
                **kwargs,
            )

    Kinetics400.__module__ = "torchvision.datasets.kinetics"
    return Kinetics400


STANDINS: dict[str, Callable[[], Any]] = {
    "load_state_dict_from_url": lambda: _cache.load_state_dict_from_url,
    "ConvBNActivation": _conv_bn_activation,
    "SqueezeExcitation": lambda: SqueezeExcitation,
    "Kinetics400": _kinetics400,
    "gen_bar_updater": lambda: gen_bar_updater,
}
"""A :data:`~tvcompat._removed.STANDIN` row's name -> what builds its stand-in."""


def build(name: str) -> Any:
    """The stand-in served for the removed name ``name`` (the same object every time)."""
    return STANDINS[name]()
