"""Colour for a full-resolution lightness: the trained network, the shape it sees, and the recombination.

Photos, film frames and the web page all go through here. The networks are fully convolutional, so the
network sees the photo's lightness L at the photo's own aspect ratio: resized (bicubic, antialiased)
so that its short side is the render size, each side rounded to what the architecture needs
(its `size_multiple`). The ab it predicts is upsampled (bicubic) to the photo's size and recombined
with the photo's own full-resolution L, so the output has the input's exact size and lightness and
only colour is added. Where a predicted colour is outside the sRGB gamut its chroma is reduced rather
than each channel clipped, which would change L (`core.color.lab_to_rgb_keeping_lightness`); LAB -> RGB
runs in strips of rows, so memory stays at a few dozen bytes per pixel.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..core import hints as hint_inputs
from ..core.color import colour_at_lightness, lab_to_rgb_keeping_lightness
from ..core.encoding import AB_SCALE
from ..core.errors import UserError
from ..core.paths import SHIPPED, Project
from ..engines import Network
from ..models import predict_distribution, saved

STRIP_PIXELS = 1 << 20  # pixels converted from LAB to RGB at a time
MAX_RENDER_SIZE = 2048  # a larger short side only costs time: the networks were trained on small images


@dataclass
class Model:
    """A loaded network and what rendering needs to know about it."""

    label: str
    directory: Path
    network: Network
    image_size: int  # the side of the square images it was trained on
    multiple: int  # network input sides are multiples of this

    @property
    def default_render_size(self) -> int:
        """The short side the network sees unless told otherwise: the size it was trained at
        (BENCHMARKS.md, "Colorize at the photo's own shape", compares others)."""
        return self.image_size

    def render_size(self, requested: int | None) -> int:
        """`requested` (None: the default) rounded to the architecture's multiple, or a one-line UserError."""
        if requested is None:
            return self.default_render_size
        if isinstance(requested, bool) or not isinstance(requested, int) or not 8 <= requested <= MAX_RENDER_SIZE:
            raise UserError(
                f"--render-size {requested!r}: must be a whole number of pixels from 8 to {MAX_RENDER_SIZE}"
            )
        return max(self.multiple, round(requested / self.multiple) * self.multiple)

    def network_shape(
        self, size: tuple[int, int], render_size: int | None = None, square: bool = False
    ) -> tuple[int, int]:
        """(width, height) of the network's input for a photo of `size` = (width, height): its short side
        at the render size and its aspect ratio kept, each side rounded to the multiple; `square` gives the
        render size by the render size instead (how `colorize` did it before aspect-kept rendering)."""
        side = self.render_size(render_size)
        if square:
            return side, side
        width, height = size
        scale = side / min(width, height)
        return tuple(
            max(self.multiple, round(length * scale / self.multiple) * self.multiple) for length in (width, height)
        )

    def network_lightness(
        self, lightness: np.ndarray, render_size: int | None = None, square: bool = False
    ) -> np.ndarray:
        """The full-resolution L (H, W) resized to the network's input shape: float32, 0-100."""
        return resized_lightness(
            lightness, self.network_shape((lightness.shape[1], lightness.shape[0]), render_size, square)
        )

    @property
    def takes_hints(self) -> bool:
        """Whether a person can tell it colours (`core.hints`)."""
        return self.network.hints

    def predict(self, small_lightness: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """ab in LAB units, float32 (h, w, 2), for the network-sized L (h, w) of `network_lightness` and,
        for a model that takes them, the hints (1, h, w, 3) of `core.hints` (None: none)."""
        l_input = (small_lightness / np.float32(100.0))[None, :, :, None]
        return self.network.predict(l_input, hints)[0] * np.float32(AB_SCALE)

    def hint_map(self, points: list, size: tuple[int, int], small_lightness: np.ndarray) -> np.ndarray | None:
        """The network's hints for a photo of `size` = (width, height) and a person's `points` (x, y, a, b;
        `core.hints.from_points`), at the shape of `small_lightness`; None for no points. A model without
        a hint input given points is a UserError."""
        if not points:
            return None
        if not self.takes_hints:
            raise UserError(f"--model {self.label} takes no colour hints: choose a model trained with hints: true")
        return hint_inputs.from_points(points, size, (small_lightness.shape[1], small_lightness.shape[0]))

    def predict_ab(
        self, lightness: np.ndarray, render_size: int | None = None, square: bool = False, points: list | None = None
    ) -> np.ndarray:
        """ab (h, w, 2) at the network's input shape for a full-resolution L (H, W), told the colours of
        `points` (x, y, a, b in the photo's pixels and LAB units) by a model that takes hints."""
        small = self.network_lightness(lightness, render_size, square)
        return self.predict(small, self.hint_map(points, (lightness.shape[1], lightness.shape[0]), small))

    def suggestions(
        self,
        small_lightness: np.ndarray,
        hints: np.ndarray | None,
        point: tuple[float, float],
        size: tuple[int, int],
        count: int = 6,
    ) -> list[str]:
        """The colours (#rrggbb) the model finds most likely at `point` = (x, y) of a photo of `size` =
        (width, height), most likely first, given `hints`: the modes of its predicted distribution there
        (the loss's `suggestions`) at the point's lightness, for the page's palette."""
        l_input = (small_lightness / np.float32(100.0))[None, :, :, None]
        distribution = predict_distribution(self.network, l_input, hints)[0]
        row, column = hint_inputs.network_pixel(*point, size, (small_lightness.shape[1], small_lightness.shape[0]))
        ab = self.network.loss.suggestions(distribution[row, column], count)
        lab = np.concatenate([np.full((len(ab), 1), small_lightness[row, column], dtype=np.float32), ab], axis=1)
        rgb = np.rint(lab_to_rgb_keeping_lightness(lab) * 255.0).astype(int)
        return ["#{:02x}{:02x}{:02x}".format(*colour) for colour in rgb]


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float32 (H, W) plane resized to size = (width, height), bicubic (antialiased when shrinking)."""
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    return np.asarray(image.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)


def resized_lightness(lightness: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """L (H, W) resized to size = (width, height) as `resize_plane` does, kept within 0-100 (bicubic
    overshoots at edges): what the network sees, and the lightness of previews and comparison panels."""
    return np.clip(resize_plane(lightness, size), 0.0, 100.0)


def upsample_ab(ab: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Predicted ab (h, w, 2) resized to size = (width, height): float32 (height, width, 2)."""
    width, height = size
    out = np.empty((height, width, 2), dtype=np.float32)
    for channel in range(2):
        out[..., channel] = resize_plane(ab[..., channel], size)
    return out


def compose(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """uint8 sRGB (H, W, 3) of L (H, W) and ab (H, W, 2), converted in strips of rows to bound memory: the
    reference path, step by step in NumPy, that `colour`'s fused one is tested against."""
    height, width = lightness.shape
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, STRIP_PIXELS // width)
    for top in range(0, height, rows):
        lab = np.concatenate([lightness[top : top + rows, :, None], ab[top : top + rows]], axis=-1)
        rgb[top : top + rows] = np.rint(lab_to_rgb_keeping_lightness(lab) * 255.0)
    return rgb


def colour(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """uint8 sRGB of a full-resolution L (H, W) and the network-sized ab predicted for it: what
    `compose(lightness, upsample_ab(ab, size))` gives, in one pass on every core (`core.color`)."""
    return colour_at_lightness(lightness, ab)


def trained_models(project: Path) -> list[str]:
    """The models `colorize` can use, by name: those trained in `project`/models (folders holding a
    config.json), then the shipped ones (`SHIPPED`) no trained model's name hides, each list sorted."""
    trained = _model_names(Project(project).models)
    return trained + [name for name in _model_names(SHIPPED) if name not in trained]


def _model_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if (p / saved.CONFIG_FILE).is_file()) if folder.is_dir() else []


def model_directory(spec: str, project: Path) -> tuple[Path, str | None]:
    """The model folder that --model names, and the model file's name if a file was named: a model NAME
    trained in `project` (models/NAME) or else shipped (`SHIPPED`/NAME), or a path to a model folder or
    to the model file inside one."""
    path = Path(spec)
    if len(path.parts) == 1 and not path.is_absolute():
        for named in (Project(project).model(spec), SHIPPED / spec):
            if (named / saved.CONFIG_FILE).is_file():
                return named, None
    if not path.exists():
        known = ", ".join(trained_models(project)) or "none"
        if len(path.parts) == 1:
            raise UserError(
                f"--model {spec}: no model {spec} trained in {project / 'models'} or shipped (known: {known}): "
                f"run `dvc repro train@{spec}` in the project root first, or pass --model PATH"
            )
        raise UserError(f"--model {spec}: no such model directory or file (known models: {known})")
    if path.is_dir():
        return path, None
    if not (path.parent / saved.CONFIG_FILE).is_file():
        raise UserError(
            f"--model {spec} is not a model written by this project: expected a models/NAME directory "
            f"with {saved.CONFIG_FILE}, or the model file inside one"
        )
    return path.parent, path.name


def load_model(spec: str, project: Path) -> Model:
    """Load what --model names (see `model_directory`) for inference, or raise a one-line UserError."""
    directory, file_name = model_directory(spec, project)
    recipe = saved.read_config(directory)
    expected = saved.model_file(directory, recipe)
    if file_name is not None and file_name != expected.name:
        raise UserError(
            f"--model {spec}: {directory / saved.CONFIG_FILE} describes a {recipe.arch} model, "
            f"whose file is {expected.name}"
        )
    network, _ = saved.load(directory)
    label = spec if directory in (Project(project).model(spec), SHIPPED / spec) else f"{recipe.arch} ({directory})"
    return Model(
        label=label,
        directory=directory,
        network=network,
        image_size=recipe.image_size,
        multiple=recipe.architecture.size_multiple,
    )
