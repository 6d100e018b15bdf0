"""Classical optical flow between two frames' lightness, for what films need: warping one frame's colour
onto the next (`films.FlowSmoothing`) and the warping error (`evaluation.metrics.warping_error`).

The flow is OpenCV's DIS (Kroeger et al., 2016: dense inverse search), run on L as 8-bit grey. A flow
maps each pixel of the frame it is computed for to where that point is in the other frame, so
`warp(other, flow)` brings the other frame's values onto this one's pixels. Where the point is hidden
in the other frame (occlusion), or the flow is wrong, the flow from the other frame back does not
return to where it started: `consistency` turns that round-trip error into a confidence (Sundaram et
al., 2010; the occlusion test of Ruder et al., 2016).
"""

import cv2
import numpy as np

ROUND_TRIP_SLACK = 0.5  # pixels^2 of round-trip error always tolerated (as in Ruder et al.)
ROUND_TRIP_SHARE = 0.01  # ... plus this share of the two flows' squared lengths


def _grey(lightness: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(lightness * np.float32(2.55)), 0, 255).astype(np.uint8)


PRESETS = {"fast": cv2.DISOPTICAL_FLOW_PRESET_FAST, "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def optical_flow(lightness: np.ndarray, other: np.ndarray, preset: str = "medium") -> np.ndarray:
    """float32 (H, W, 2) flow (dx, dy) from each pixel of `lightness` (H, W, L units) to where it is in
    `other` (same shape): DIS at one of OpenCV's PRESETS (fast: a few times quicker, a little coarser)."""
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    return dis.calc(_grey(lightness), _grey(other), None)


def warp(plane: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`plane` (H, W[, C]) sampled at each pixel plus `flow` (bilinear; the edge repeated beyond it)."""
    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        np.ascontiguousarray(plane, dtype=np.float32),
        columns + flow[..., 0],
        rows + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _round_trip(forward: np.ndarray, backward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The squared pixels (H, W) by which following `forward` (this frame -> other) and then `backward`
    (other -> this frame) misses the start, and the backward flow met on the way (H, W, 2)."""
    returned = warp(backward, forward)
    return np.sum((forward + returned) ** 2, axis=-1), returned


def reliable(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """bool (H, W): where the round trip returns within ROUND_TRIP_SLACK plus ROUND_TRIP_SHARE of the two
    flows' squared lengths (elsewhere: occluded, or the flow is wrong)."""
    error, returned = _round_trip(forward, backward)
    lengths = np.sum(forward**2, axis=-1) + np.sum(returned**2, axis=-1)
    return error <= ROUND_TRIP_SHARE * lengths + ROUND_TRIP_SLACK


def consistency(forward: np.ndarray, backward: np.ndarray, scale: float) -> np.ndarray:
    """float32 (H, W) confidence in `forward` from 1 (the round trip returns exactly) towards 0:
    exp(-round-trip error / scale^2), `scale` in pixels."""
    return np.exp(-_round_trip(forward, backward)[0] / np.float32(scale * scale)).astype(np.float32)
