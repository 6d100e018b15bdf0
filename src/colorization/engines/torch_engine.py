"""The PyTorch engine (see `engines.Engine`): training and inference on NHWC numpy batches, on the GPU
when there is one; bfloat16 autocast for the forward pass with `mixed_precision`; DistributedDataParallel
across the workers of a process group (see `colorization.training.distributed`); a loss's adversary
trained beside the network (`adversarial.Adversary`)."""

import os
import pickle
import random
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torchvision

from ..architectures import Architecture
from ..core import hints as hint_inputs
from ..core.encoding import AB_OFFSET, AB_SCALE, L_STEPS
from ..core.errors import UserError
from ..core.files import atomic_path
from ..losses.mse import MSE
from . import EncoderTraining
from .adversarial import Adversary

MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def versions() -> dict[str, str]:
    return {"torch": torch.__version__, "torchvision": torchvision.__version__}


def seed(value: int) -> None:
    """Seed Python, NumPy and PyTorch, and make PyTorch's kernels deterministic.

    On a GPU, cuBLAS needs a fixed workspace for that, and a few CUDA kernels (the nearest-neighbour
    upsampling's backward pass) have no deterministic version: there they warn instead of failing.
    """
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
    if DEVICE.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)
        # torchrun's workers on one machine share the cores this process may run on
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def bfloat16_native() -> bool:
    """Whether the training device computes bfloat16 in hardware: a CUDA GPU that has it, or a CPU with
    AVX512-BF16 or AMX whose PyTorch kernels may use AVX-512 (not capped by ATEN_CPU_CAPABILITY).
    Elsewhere autocast emulates bfloat16, which is slower than float32."""
    if DEVICE.type == "cuda":
        return torch.cuda.is_bf16_supported()
    hardware = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return hardware and torch.backends.cpu.get_cpu_capability() == "AVX512"


def _to_tensor(batch: np.ndarray) -> torch.Tensor:
    """NHWC numpy batch to an NCHW tensor on the training device."""
    tensor = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
    return tensor.to(DEVICE, non_blocking=True) if DEVICE.type == "cuda" else tensor


def _model_units(encoded: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shard-encoded images (B, H, W, 3) uint8 to the network's input L/100 and target ab/128, NCHW
    float32 on the training device. The bytes travel, a quarter of the floats, from pinned memory without
    blocking, and are converted there, with `core.encoding.scale_for_model`'s float32 operations. A uint8
    tensor already on the device (the GPU benchmark's) is converted where it is."""
    tensor = encoded if isinstance(encoded, torch.Tensor) else torch.from_numpy(encoded)
    if DEVICE.type == "cuda" and tensor.device.type == "cpu":
        tensor = tensor.pin_memory().to(DEVICE, non_blocking=True)
    tensor = tensor.permute(0, 3, 1, 2).contiguous().float()  # NCHW strides: they pick the convolutions' kernels
    l_input = tensor[:, :1] * np.float32(1 / (L_STEPS * 100.0))
    ab = tensor[:, 1:] * np.float32(1 / AB_SCALE) + np.float32(-AB_OFFSET / AB_SCALE)
    return l_input, ab


class TorchNetwork:
    """A PyTorch module with an Adam optimizer and a loss (see `colorization.losses`), on the GPU when
    there is one. A loss with an adversary (its `info.adversary`) has it trained beside the module.

    With `mixed_precision`, the forward pass runs under bfloat16 autocast where the device computes
    bfloat16 in hardware (`bfloat16_native`); the loss and the weights stay float32. Elsewhere it trains
    in float32, and its `device` says so.

    With `block` > 1 the module is an architecture's head without its final nearest upsampling by
    `block` (`Architecture.upsample`), for a loss that trains on it (`LossInfo.blocks`): the loss is
    computed on the head's output against block targets, and predictions are decoded before they are
    upsampled, which is the same output for a fraction of the work.

    With `hints` the module reads colour hints beside L (`core.hints`): every step and prediction takes
    them, and none given means no hints (zeros).

    A module with a pretrained encoder (its `encoder_modules()`) trains it as `encoder` says: in an
    epoch where it is frozen its weights get no gradient and its batch norms keep their statistics
    (evaluation mode); when it trains, Adam moves it at `encoder.lr_scale` times the learning rate.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        lr: float | None = None,
        mixed_precision: bool = False,
        loss=None,
        block: int = 1,
        scene_weight: float = 0.0,
        hints: bool = False,
        encoder: EncoderTraining | None = None,
    ):
        self.module = module.to(DEVICE)
        self.encoder = encoder or EncoderTraining()
        pretrained = module.encoder_modules() if hasattr(module, "encoder_modules") else []
        self.encoder_parameters = [parameter for part in pretrained for parameter in part.parameters()]
        self.encoder_frozen = False
        self.hints = hints
        self.scene_weight = scene_weight  # of the scene classifier's loss, for a module that returns its logits
        self.block = block
        self.forward = self.module  # what training steps call: the module, or its DDP wrapper
        self.loss = loss or MSE()
        self.optimizer = None
        self.adversary = None
        if lr is not None:
            encoder_ids = {id(parameter) for parameter in self.encoder_parameters}
            groups = [
                {"params": [p for p in module.parameters() if id(p) not in encoder_ids], "scale": 1.0},
                {"params": self.encoder_parameters, "scale": self.encoder.lr_scale},
            ]
            self.optimizer = torch.optim.Adam(
                [group for group in groups if group["params"]], lr=lr, betas=self.loss.info.betas
            )
            if self.loss.info.adversary is not None:
                self.adversary = Adversary(self.loss, lr, DEVICE)
        self.adversarial = False
        self.mixed_precision = mixed_precision and bfloat16_native()
        self.bfloat16_missing = mixed_precision and not self.mixed_precision

    @property
    def on_accelerator(self) -> bool:
        return DEVICE.type == "cuda"

    @property
    def precision(self) -> str:
        return "bfloat16" if self.mixed_precision else "float32"

    @property
    def device(self) -> str:
        precision = ", bfloat16 autocast" if self.mixed_precision else ""
        if self.bfloat16_missing:
            precision = "; float32: mixed_precision asks for bfloat16, which this device only emulates"
        if DEVICE.type == "cuda":
            index = torch.cuda.current_device()
            return f"cuda:{index} ({torch.cuda.get_device_name(index)}{precision})"
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads > 1 else ''}{precision})"

    def distribute(self) -> None:
        """Train as one of the workers of the initialised process group: DistributedDataParallel averages
        the gradients of every step over the workers, and on GPUs BatchNorm's statistics are those of the
        whole batch (SyncBatchNorm; PyTorch has it for GPUs only, so on CPUs each worker normalises its
        own share). The weights (rank 0's) and optimizer states must already be equal on every worker."""
        # an encoder frozen for some epochs leaves its parameters out of those epochs' gradients
        self.module, self.forward = _data_parallel(self.module, 0 < self.encoder.frozen_epochs)
        if self.adversary is not None:
            self.adversary.module, self.adversary.forward = _data_parallel(self.adversary.module)

    def _autocast(self):
        return torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=self.mixed_precision)

    def start_epoch(self, epoch: int, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["scale"]
        self.encoder_frozen = epoch < self.encoder.frozen_epochs
        for parameter in self.encoder_parameters:
            parameter.requires_grad_(not self.encoder_frozen)
        if self.adversary is not None:
            self.adversary.set_learning_rate(lr)
        self.adversarial = self.adversary is not None and self.loss.adversarial_from(epoch)

    def _inputs(self, l_tensor: torch.Tensor, hints: np.ndarray | None) -> torch.Tensor:
        """The module's input: L/100, and for a hint network the hints beside it (None: no hints)."""
        if not self.hints:
            if hints is not None:
                raise ValueError("this network has no hint input")
            return l_tensor
        if hints is None:
            hint_tensor = l_tensor.new_zeros((l_tensor.shape[0], hint_inputs.CHANNELS, *l_tensor.shape[2:]))
        else:
            hint_tensor = _to_tensor(hints.astype(np.float32, copy=False))
        return torch.cat([l_tensor, hint_tensor], dim=1)

    def train_step(
        self, encoded: np.ndarray, labels: np.ndarray | None = None, hints: np.ndarray | None = None
    ) -> dict[str, float]:
        self.module.train()
        if self.encoder_frozen:
            for part in self.module.encoder_modules():
                part.eval()
        l_tensor, ab = _model_units(encoded)
        inputs = self._inputs(l_tensor, hints)
        with self._autocast():
            output = self.forward(inputs)
        output, scene_logits = output if isinstance(output, tuple) else (output, None)
        output = output.float()
        target = self._targets(ab)
        loss = self.loss.torch_loss(output, target)
        losses = {"loss": float(loss.detach())}
        objective = loss
        if scene_logits is not None and labels is not None:
            scene = _scene_loss(scene_logits.float(), torch.as_tensor(labels, dtype=torch.long, device=output.device))
            losses["scene"] = float(scene.detach())
            objective = objective + self.scene_weight * scene
        if self.adversarial:
            losses["discriminator"] = self.adversary.discriminator_step(l_tensor, output, target)
            objective, losses["adversarial"] = self.adversary.generator_objective(l_tensor, output, loss)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.optimizer.step()
        return losses

    def _targets(self, ab: torch.Tensor) -> torch.Tensor:
        return self.loss.torch_targets(ab, self.block) if self.block > 1 else self.loss.torch_targets(ab)

    def _decode(self, output: torch.Tensor) -> np.ndarray:
        """ab/128 NHWC from the module's NCHW output, upsampled by `block` after decoding."""
        ab = self.loss.decode(output.cpu().numpy().transpose(0, 2, 3, 1))
        return ab.repeat(self.block, axis=1).repeat(self.block, axis=2) if self.block > 1 else ab

    def _output(self, l_input: np.ndarray, hints: np.ndarray | None = None) -> torch.Tensor:
        self.module.eval()
        with torch.inference_mode(), self._autocast():
            return self.module(self._inputs(_to_tensor(l_input), hints)).float()

    def predict(self, l_input: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        return self._decode(self._output(l_input, hints))

    def validate(self, encoded: np.ndarray, hints: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        l_tensor, ab = _model_units(encoded)
        self.module.eval()
        with torch.inference_mode(), self._autocast():
            output = self.module(self._inputs(l_tensor, hints)).float()
        with torch.inference_mode():
            loss = self.loss.torch_loss(output, self._targets(ab))
        return float(loss), self._decode(output)

    @contextmanager
    def threads(self, count: int):
        before = torch.get_num_threads()
        torch.set_num_threads(max(1, min(count, before)))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters() if p.requires_grad)

    def save(self, directory: Path) -> None:
        _save(self.module.state_dict(), directory / MODEL_FILE)

    def save_checkpoint(self, directory: Path) -> None:
        _save(self.checkpoint_state(), directory / CHECKPOINT_FILE)

    def load_checkpoint(self, directory: Path) -> None:
        self.load_checkpoint_state(_load_weights(directory / CHECKPOINT_FILE))

    def checkpoint_state(self) -> dict:
        """Weights, optimizer state (the adversary's too) and PyTorch's generator state: tensors and plain
        containers, so loadable with weights_only=True."""
        state = {
            "model": self.module.state_dict(),
            "optimizer": _canonical(self.optimizer.state_dict()),
            "torch_rng": torch.get_rng_state(),
        }
        if self.adversary is not None:
            adversary = self.adversary.state_dict()
            state["adversary"] = {"module": adversary["module"], "optimizer": _canonical(adversary["optimizer"])}
        return state

    def load_checkpoint_state(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.adversary is not None:
            self.adversary.load_state_dict(state["adversary"])
        torch.set_rng_state(state["torch_rng"])


def _data_parallel(module: torch.nn.Module, unused: bool = False) -> tuple[torch.nn.Module, torch.nn.Module]:
    """`module` (with SyncBatchNorm on GPUs) and its DistributedDataParallel wrapper, which averages its
    gradients over the process group's workers at every step."""
    if DEVICE.type == "cuda":
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    device_ids = [torch.cuda.current_device()] if DEVICE.type == "cuda" else None
    return module, torch.nn.parallel.DistributedDataParallel(
        module, device_ids=device_ids, find_unused_parameters=unused
    )


def _canonical(value):
    """An optimizer state rebuilt so that its bytes when pickled depend only on its values: pickle writes
    an object seen before as a reference to it, by identity, and whether two equal keys or tuples are one
    object depends on whether they were created here or loaded from a checkpoint. Strings are interned
    (always one object), containers rebuilt (never shared)."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {_canonical(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_canonical(item) for item in value)
    return value


def _save(state: dict, path: Path) -> None:
    """torch.save through a file handle: given a path, torch names the archive's inner folder after the
    (temporary, per-process) file name, so reruns would differ in bytes."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        torch.save(state, handle)


def _load_weights(path: Path) -> dict:
    """torch.load with weights_only=True: tensors and plain containers only, so a crafted pickle's code
    is refused instead of run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's note on the pickle protocol of foreign files
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise UserError(
                f"{path} could not be loaded safely: it holds objects other than weights "
                "(refused, nothing in it was run)"
            ) from None


def create(
    architecture: Architecture,
    lr: float,
    l_mean: float,
    l_std: float,
    seed_value: int,
    mixed_precision: bool,
    loss=None,
    options: dict | None = None,
    scene_weight: float = 0.0,
    init: Path | None = None,
    encoder: EncoderTraining | None = None,
) -> TorchNetwork:
    """A seeded network with its Adam optimizer (see `engines.Engine.create`): freshly initialised (a
    pretrained encoder from its ImageNet weights), or starting from the weights of the saved model
    `init` (`_start_from`)."""
    seed(seed_value)
    loss = loss or MSE()
    options = options or {}
    if architecture.pretrained is not None and init is None:
        options = options | {"imagenet": True}
    module, block = _build(architecture, l_mean, l_std, loss, options)
    if init is not None:
        _start_from(module, _load_weights(Path(init) / MODEL_FILE), Path(init))
    return TorchNetwork(module, lr, mixed_precision, loss, block, scene_weight, bool(options.get("hints")), encoder)


def _start_from(module: torch.nn.Module, weights: dict, source: Path) -> None:
    """Load a saved model's `weights` into `module`, which may read more input channels than it did (the
    hint input): those start at zero, so the module computes what the saved model did until it learns
    to use them. Any other difference is a one-line UserError naming `source`."""
    state = module.state_dict()
    for key, target in state.items():
        value = weights.get(key)
        if value is None or value.dim() != target.dim():
            raise UserError(f"init: {source} is no starting point for this model: it has no weights {key}")
        if value.shape == target.shape:
            state[key] = value
        elif value.dim() == 4 and value.shape[1] < target.shape[1] and value.shape[0] == target.shape[0]:
            state[key] = torch.cat(
                [value, value.new_zeros((value.shape[0], target.shape[1] - value.shape[1], *value.shape[2:]))], dim=1
            )
        else:
            raise UserError(
                f"init: {source} is no starting point for this model: its {key} is {tuple(value.shape)}, "
                f"this model's {tuple(target.shape)}"
            )
    unused = sorted(set(weights) - set(state))
    if unused:
        raise UserError(
            f"init: {source} is no starting point for this model: it has weights this one lacks ({unused[0]})"
        )
    module.load_state_dict(state)


def store_half(source: Path, target: Path) -> None:
    """Write the weights file `source` to `target` with its floating-point tensors in half precision:
    half the bytes, for a shipped model; loading casts them back to float32."""
    weights = _load_weights(source)
    _save({key: value.half() if value.is_floating_point() else value for key, value in weights.items()}, target)


def load(directory: Path, architecture: Architecture, loss=None, options: dict | None = None) -> TorchNetwork:
    """Rebuild the architecture and load its weights safely, channels-last: oneDNN's convolutions on CPUs
    run faster on that layout, and an inference network is never trained on."""
    loss = loss or MSE()
    options = options or {}
    module, block = _build(architecture, 0.0, 1.0, loss, options)
    module.load_state_dict(_load_weights(directory / MODEL_FILE))
    module = module.to(memory_format=torch.channels_last)
    return TorchNetwork(module, loss=loss, block=block, hints=bool(options.get("hints")))


def _build(architecture: Architecture, l_mean: float, l_std: float, loss, options: dict) -> tuple[torch.nn.Module, int]:
    """The module for `loss`, and the block its output is upsampled by afterwards: the head alone when
    the architecture ends in a nearest upsampling and the loss trains on blocks, else the whole network."""
    if architecture.upsample > 1 and loss.info.blocks:
        module = architecture.build(l_mean=l_mean, l_std=l_std, outputs=loss.channels, head_only=True, **options)
        return module, architecture.upsample
    return architecture.build(l_mean=l_mean, l_std=l_std, outputs=loss.channels, **options), 1


def _scene_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the scene logits over the images that have a label (-1: none); 0 if none has."""
    known = labels >= 0
    if not bool(known.any()):
        return logits.sum() * 0.0  # keeps the graph (and DDP's gradients) the same for every batch
    return torch.nn.functional.cross_entropy(logits[known], labels[known])
