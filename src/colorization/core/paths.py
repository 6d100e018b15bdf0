"""Where each step of the data flow keeps what it makes, relative to a project's root: defined here once.

raw photos (data/raw) -> LAB shards (data/lab) and their ab prior (data/prior.json) -> trained models
(models/NAME, with dvclive/NAME and the working checkpoints/NAME) -> predictions (data/predictions) ->
metrics (metrics/NAME.json) and plots (plots/). dvc.yaml names the same paths for DVC.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Project:
    """The paths of one project folder; the stages use PROJECT, the current directory."""

    root: Path = Path(".")

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def lab(self) -> Path:
        return self.root / "data" / "lab"

    @property
    def prior(self) -> Path:
        return self.root / "data" / "prior.json"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def gray_metrics(self) -> Path:
        """The grey image's metrics: the baseline every model must beat."""
        return self.metrics / "gray.json"

    def model(self, name: str) -> Path:
        return self.models / name

    def live(self, name: str) -> Path:
        """A training's dvclive logs."""
        return self.root / "dvclive" / name

    def checkpoints(self, name: str) -> Path:
        """A training's working state, so a killed run resumes: not a result, not a DVC output."""
        return self.root / "checkpoints" / name

    def predictions(self, name: str) -> Path:
        return self.root / "data" / "predictions" / f"{name}.npy"

    def model_metrics(self, name: str) -> Path:
        return self.metrics / f"{name}.json"

    def decoding_curve(self, name: str) -> Path:
        """A model's metrics at each value of its loss's decoding sweep (a DVC plot)."""
        return self.metrics / "decoding" / f"{name}.json"

    def hint_curve(self, name: str) -> Path:
        return self.metrics / "hints" / f"{name}.json"


PROJECT = Project()

# Models shipped inside the package (weights/NAME, each a saved-model folder that the pipeline trained,
# with the recipe that reproduces it): what `colorize` uses where a project has trained nothing.
SHIPPED = Path(__file__).resolve().parents[1] / "weights"
