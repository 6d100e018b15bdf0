"""Old films: colorized frame by frame, streamed through FFmpeg (PyAV's wheel brings it), audio kept.

Frames are decoded, colorized as photos are (`render`: the network sees each frame's lightness at its own
aspect ratio, the frame keeps its full-resolution L) and encoded one at a time, so memory stays flat
however long the film. The output has the input's resolution, frame count and frame timestamps (so its
frame rate, variable ones included); its audio streams are copied packet for packet, not re-encoded,
unless the output's container cannot hold their codec (Opus in a film named .avi): those are re-encoded
with one of the container's own (AUDIO_ENCODERS). The video is re-encoded with the input's codec where
FFmpeg can write it (H.264, MJPEG, VP8, VP9, MPEG-4 Part 2), else with the container's usual one, at a
quality that keeps the lightness.

Each frame coloured alone flickers: a network's guess changes with film grain and small movements. So
the predicted ab (at the network's size, before upsampling) is smoothed over time by an exponential
moving average in LAB carried along the optical flow, restarted at scene cuts, where the lightness
changes too much for the previous colours to apply. Consecutive frames are aligned before they are
compared, so a pan, even a fast one, is not a cut (`TemporalSmoothing`; BENCHMARKS.md has the
measurement behind the defaults). Decoding and encoding run in threads of their own beside the
network, PIPELINE_DEPTH frames apart at most.

A film that FFmpeg cannot open, or that turns out damaged or truncated while it is read, is reported
in one line and nothing is written under the output's name. So is a film over the `FilmLimits` given:
its frame size and length are checked in its header before anything is decoded, and again on each
decoded frame, since a header can lie; the coloured film's size on disk is checked while it is written.
"""

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core import flow as core_flow
from ..core.color import lightness_of_rgb
from ..core.files import atomic_path
from ..core.photo import FORMATS, open_image
from .photos import UnreadableImage, open_file
from .render import Model, colour, resize_plane

# Film suffix (any case) -> the FFmpeg container written for it.
FILM_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}
ENCODERS = {"h264": "libx264", "mjpeg": "mjpeg", "vp8": "libvpx", "vp9": "libvpx-vp9", "mpeg4": "mpeg4"}
CONTAINER_ENCODER = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264", "avi": "mjpeg", "webm": "libvpx-vp9"}
# A container's audio encoders, preferred first, for an audio track whose codec it cannot hold.
AUDIO_ENCODERS = {
    "avi": ("libmp3lame", "pcm_s16le"),
    "mp4": ("aac",),
    "mov": ("aac",),
    "matroska": ("aac",),
    "webm": ("libopus", "libvorbis"),
}
ENCODER_SETTINGS = {  # codec options (visually lossless) and pixel format
    # veryfast at CRF 12 keeps what medium at 16 kept in half the time (BENCHMARKS.md, "Films in real time")
    "libx264": ({"crf": "12", "preset": "veryfast"}, "yuv420p"),
    "libvpx-vp9": ({"crf": "18", "b": "0", "row-mt": "1"}, "yuv420p"),
    "libvpx": ({"crf": "6", "b": "20M"}, "yuv420p"),
    "mjpeg": ({"qmin": "1", "qmax": "3"}, "yuvj420p"),
    "mpeg4": ({"qmin": "1", "qmax": "3"}, "yuv420p"),
}
# The share of the earlier frames' ab kept at each frame: along the optical flow (where it is reliable), or
# in place by the plain moving average, where a longer memory would trail behind motion.
DEFAULT_SMOOTHING = {True: 0.95, False: 0.8}
FLOW_SCALE = 2.0  # pixels of round-trip error (network pixels) at which the flow's confidence is 1/e
DEFAULT_SCENE_CUT = 6.0  # mean |delta L| between consecutive frames' aligned thumbnails (L units)
THUMBNAIL_SIDE = 24  # scene cuts compare frames shrunk to this many pixels on their short side
MAX_SHIFT = 0.1  # ... aligned by shifts up to this share of each side first: a pan is not a cut
SUBPIXEL_LEVELS = 2  # ... to a quarter of a pixel (each level halves the step around the best shift)
EXPOSURE_FLICKER = 15.0  # ... and a change of the whole frame's mean L up to this (L units) set aside


@dataclass(frozen=True)
class FilmLimits:
    """What one film may take: a film over them is refused (`FilmRefused`, `OverBudget`), so that a small
    file declaring huge frames or hours of them cannot take the memory, time or disk of the computer."""

    megapixels: float | None = None  # a frame's pixels at most, in millions (None: no limit)
    minutes: float | None = None  # the film's length at most
    # the coloured film's size on disk (st_blocks * 512 of the temporary) at most, checked while it is written
    max_bytes: int | None = None


class FilmRefused(UnreadableImage):
    """A film whose frames are larger, or which is longer, than its FilmLimits: refused before anything is
    written."""


class OverBudget(UnreadableImage):
    """The coloured film being written passed FilmLimits.max_bytes: stopped, nothing written."""


def is_film(path: Path) -> bool:
    return Path(path).suffix.lower() in FILM_FORMATS


def misnamed(path: Path) -> str | None:
    """The one-line refusal of a file named as a film that holds a photo, or named as a photo that holds a
    film, else None (a photo in another photo format than its suffix is read fine by its content).

    Judged by the content alone: a photo is what the photo decoders recognise from its header, a film
    what FFmpeg opens as one of FILM_FORMATS' containers with a video stream. UnreadableImage where the
    file itself cannot be read.
    """
    with open_file(path) as file:
        try:
            if is_film(path):
                with open_image(file) as image:
                    fmt = "JPEG" if image.format == "MPO" else image.format  # a multi-picture JPEG
                suffix = next(suffix for suffix, name in FORMATS.items() if name == fmt)
                return f"a {fmt} photo, not a film: rename it {suffix} to colorize it"
            with av.open(file) as container:
                names = set(container.format.name.split(",")) if container.streams.video else set()
        except Exception:  # not the other kind: the reader of its own kind says what is wrong with it
            return None
    suffix = next((suffix for suffix, name in FILM_FORMATS.items() if name in names), None)
    if suffix is None:
        return None
    return f"a film ({suffix[1:].upper()}), not a photo: rename it {suffix} to colorize it"


@dataclass
class TemporalSmoothing:
    """An exponential moving average of the predicted ab over frames, along the optical flow, restarted at
    scene cuts.

    `weight` is the share of the earlier frames' ab kept at each frame (0: every frame coloured alone).
    With `flow`, the running ab is first carried along the optical flow from the previous frame to this
    one (`core.flow`, DIS on the network-sized L), and kept only as far as the flow is reliable: its
    weight is multiplied by exp(-round-trip error / FLOW_SCALE^2), so where something appears or the flow
    is wrong the network's own colour takes over. A colour then follows what moves, and the memory can be
    long (0.95: 20 frames) without trailing. Without `flow`, the average stays in place (as before;
    BENCHMARKS.md compares the two).

    A frame whose lightness differs from the previous one's by more than `scene_cut` starts a new scene
    with its own colours. The difference (`change`, L units) is motion-compensated: the mean |delta L|
    between the two frames' thumbnails (THUMBNAIL_SIDE pixels on the short side, which averages grain
    away) at the shift, up to MAX_SHIFT of each side, that matches them best, less its mean up to
    EXPOSURE_FLICKER (flicker brightens or darkens a whole frame a little). So a pan or gate weave, which
    moves the picture, and exposure flicker do not count as cuts, while a new shot differs from the last
    one however it is shifted, in its shapes or, as from a dark room to a bright sky, in its brightness.
    """

    weight: float | None = None  # None: DEFAULT_SMOOTHING of the mode
    scene_cut: float = DEFAULT_SCENE_CUT
    flow: bool = True
    cuts: int = 0
    _ab: np.ndarray | None = field(default=None, repr=False)
    _lightness: np.ndarray | None = field(default=None, repr=False)
    _small: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.weight is None:
            self.weight = DEFAULT_SMOOTHING[self.flow]
        if not 0.0 <= self.weight < 1.0:
            raise ValueError(f"smoothing weight {self.weight!r}: must be at least 0 and below 1")
        if not self.scene_cut > 0:
            raise ValueError(f"scene cut {self.scene_cut!r}: must be above 0")

    @staticmethod
    def thumbnail(lightness: np.ndarray) -> np.ndarray:
        """A frame's L (h, w) shrunk to THUMBNAIL_SIDE pixels on its short side, its aspect ratio kept."""
        height, width = lightness.shape
        scale = THUMBNAIL_SIDE / min(height, width)
        return resize_plane(lightness, (max(1, round(width * scale)), max(1, round(height * scale))))

    @staticmethod
    def change(previous: np.ndarray, current: np.ndarray) -> float:
        """The mean |delta L| between two thumbnails of one shape once aligned: the least, over shifts of
        `current` by whole pixels up to MAX_SHIFT of each side, then by finer steps around the best one
        (linear interpolation), of the mean |delta L - its mean| (the mean limited to +-EXPOSURE_FLICKER) over
        the centre of `previous` that every shift keeps."""
        height, width = previous.shape
        rows, columns = max(1, round(MAX_SHIFT * height)), max(1, round(MAX_SHIFT * width))
        centre = previous[rows : height - rows, columns : width - columns]

        def costs(windows):  # (n, m, h, w) windows of `current` -> (n, m) mean |delta L - its mean|
            difference = (windows - centre).reshape(*windows.shape[:2], -1)
            difference -= np.clip(difference.mean(axis=-1, keepdims=True), -EXPOSURE_FLICKER, EXPOSURE_FLICKER)
            return np.abs(difference, out=difference).mean(axis=-1)

        windows = sliding_window_view(current, centre.shape)  # (2 rows + 1, 2 columns + 1, h, w)
        whole = costs(windows)
        row, column = np.unravel_index(np.argmin(whole), whole.shape)
        row, column = min(max(row, 1), whole.shape[0] - 2), min(max(column, 1), whole.shape[1] - 2)
        fine = windows[row - 1 : row + 2, column - 1 : column + 2]
        for _ in range(SUBPIXEL_LEVELS):  # halve the step: a window between two is their mean
            steps = np.empty((2 * fine.shape[0] - 1, 2 * fine.shape[1] - 1, *centre.shape), np.float32)
            steps[::2, ::2] = fine
            steps[::2, 1::2] = (fine[:, :-1] + fine[:, 1:]) / 2
            steps[1::2] = (steps[:-2:2] + steps[2::2]) / 2
            fine = steps
        return float(min(whole.min(), costs(fine).min()))

    def __call__(self, lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """The smoothed ab for a frame's network-sized L (h, w) and its predicted ab (h, w, 2)."""
        thumbnail = self.thumbnail(lightness)
        new_scene = (
            self._lightness is None
            or self._lightness.shape != thumbnail.shape
            or self._ab.shape != ab.shape
            or self.change(self._lightness, thumbnail) > self.scene_cut
        )
        if new_scene and self._lightness is not None:
            self.cuts += 1
        self._lightness = thumbnail
        if new_scene or self.weight == 0.0:
            self._ab = ab
        elif self.flow:
            backward = core_flow.optical_flow(lightness, self._small, "fast")
            forward = core_flow.optical_flow(self._small, lightness, "fast")
            kept = np.float32(self.weight) * core_flow.consistency(backward, forward, FLOW_SCALE)[..., None]
            self._ab = kept * core_flow.warp(self._ab, backward) + (1 - kept) * ab
        else:
            self._ab = self.weight * self._ab + (1.0 - self.weight) * ab
        self._small = lightness
        return self._ab


@dataclass
class FilmReport:
    """What colorizing wrote: a film's frames and the scene cuts that restarted its smoothing (a photo: 0, 0),
    and what its user should know of it (an audio track left out), one line each."""

    frames: int
    scene_cuts: int
    warnings: list[str] = field(default_factory=list)


def _reason(error: Exception) -> str:
    """FFmpeg's reason in one line, without the error number and file name PyAV adds."""
    text = (getattr(error, "strerror", None) or str(error)).strip().splitlines()
    return text[0] if text else type(error).__name__


def _add_video_stream(output, video, encoder: str):
    options, pixel_format = ENCODER_SETTINGS[encoder]
    width, height = video.codec_context.width, video.codec_context.height
    if encoder == "libx264" and (width % 2 or height % 2):
        pixel_format = "yuv444p"  # 4:2:0 needs even sides; keep the film's exact size
    stream = output.add_stream(encoder, rate=video.average_rate or video.guessed_rate or Fraction(24), options=options)
    stream.width, stream.height, stream.pix_fmt = width, height, pixel_format
    stream.time_base = video.time_base
    return stream


def _audio_stream(output, audio) -> tuple[object | None, bool]:
    """The output stream for the input audio stream `audio` and whether its frames must be re-encoded: a
    copy where the output's container holds its codec, else a stream of the first of the container's
    AUDIO_ENCODERS that this FFmpeg has (at the track's sample rate where the encoder takes it, mixed
    to stereo beyond two channels); (None, False) where there is none."""
    try:
        return output.add_stream_from_template(audio), False
    except ValueError:  # PyAV's refusal of a codec the container cannot hold (avformat_query_codec)
        pass
    for name in AUDIO_ENCODERS[output.format.name]:
        try:
            rates = av.Codec(name, "w").audio_rates
        except av.codec.codec.UnknownCodecError:  # not in this build of FFmpeg
            continue
        rate = audio.rate if not rates or audio.rate in rates else max(rates)
        layout = audio.layout.name if audio.channels <= 2 else "stereo"
        return output.add_stream(name, rate=rate, layout=layout), True
    return None, False


def _pixels(width: int, height: int) -> str:
    return f"{width} x {height} ({width * height / 1e6:.3g} megapixels)"


def _header_check(container, video, limits: FilmLimits) -> None:
    """Raise FilmRefused where the header of a film says its frames are larger, or the film longer, than
    `limits`: its length is the longest of its declared frames at its rate, its video stream's duration and
    its container's."""
    width, height = video.codec_context.width, video.codec_context.height
    if limits.megapixels is not None and width * height > limits.megapixels * 1e6:
        raise FilmRefused(
            f"frames of {_pixels(width, height)} are over the limit of {limits.megapixels:g} megapixels "
            "(--max-film-megapixels)"
        )
    rate = video.average_rate or video.guessed_rate
    lengths = [
        video.frames / rate if video.frames and rate else None,
        video.duration * video.time_base if video.duration is not None and video.time_base else None,
        container.duration / av.time_base if container.duration is not None else None,
    ]
    seconds = max((float(length) for length in lengths if length is not None), default=0.0)
    if limits.minutes is not None and seconds > limits.minutes * 60:
        raise FilmRefused(
            f"{seconds / 60:.3g} minutes long, over the limit of {limits.minutes:g} minutes (--max-film-minutes)"
        )


def _frame_check(frame, count: int, seconds: float, limits: FilmLimits) -> None:
    """Raise FilmRefused where the `count`-th decoded frame, `seconds` into the film, is larger than
    `limits` or past their length: a header can lie, or say nothing."""
    if limits.megapixels is not None and frame.width * frame.height > limits.megapixels * 1e6:
        raise FilmRefused(
            f"frame {count} is {_pixels(frame.width, frame.height)}, over the limit of {limits.megapixels:g} "
            "megapixels (--max-film-megapixels); nothing written"
        )
    if limits.minutes is not None and seconds > limits.minutes * 60:
        raise FilmRefused(
            f"frame {count} is past the limit of {limits.minutes:g} minutes (--max-film-minutes), which its "
            "header did not show; nothing written"
        )


def _size_check(path: Path, max_bytes: int | None) -> None:
    """Raise OverBudget where the file at `path` takes more than `max_bytes` on disk (None: no limit); PyAV
    creates the file with its first packet, so until then it takes nothing."""
    if max_bytes is not None and os.path.exists(path) and os.stat(path).st_blocks * 512 > max_bytes:
        raise OverBudget(f"the coloured film passed {max_bytes / 1e6:.3g} MB, the most it may take; nothing written")


def film_encoder(source_codec: str, container: str) -> str:
    """The encoder for a colorized film: the input's codec where we can write it, else the container's."""
    encoder = ENCODERS.get(source_codec)
    if encoder is None or (container == "webm" and encoder not in ("libvpx", "libvpx-vp9")):
        return CONTAINER_ENCODER[container]
    return encoder


PIPELINE_DEPTH = 4  # frames decoded ahead of the network, and coloured frames waiting for the encoder


class _Stopped(Exception):
    """The other side of a pipe is gone: stop producing."""


class _Pipe:
    """A bounded queue between two threads that carries an error too: `put` and `get` raise what the other
    side failed with, and once the pipe is closed `put` raises _Stopped and `get` ends, so both sides stop."""

    _END = object()

    def __init__(self):
        self._items = queue.Queue(PIPELINE_DEPTH)
        self._error: BaseException | None = None
        self._closed = threading.Event()

    def put(self, item) -> None:
        while not self._closed.is_set():
            try:
                self._items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        self.check()
        raise _Stopped

    def get(self):
        while True:
            self.check()
            try:
                return self._items.get(timeout=0.1)
            except queue.Empty:
                if self._closed.is_set() and self._error is None:
                    return self._END

    def end(self) -> None:
        self.put(self._END)

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._closed.set()

    def close(self) -> None:
        self._closed.set()

    def check(self) -> None:
        """Raise what the other side failed with, if it did."""
        if self._error is not None:
            raise self._error

    def __iter__(self) -> Iterator:
        while (item := self.get()) is not self._END:
            yield item


def _in_thread(work: Callable[[], None], pipe: _Pipe) -> threading.Thread:
    """Start `work` in a thread whose exception fails `pipe`."""

    def run():
        try:
            work()
        except _Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - carried to the other side of the pipe, raised there
            pipe.fail(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def colorize_film(
    source: Path,
    target: Path,
    model: Model,
    render_size: int | None = None,
    smoothing: TemporalSmoothing | None = None,
    on_frame: Callable[[int, int | None], None] | None = None,
    square: bool = False,
    limits: FilmLimits | None = None,
) -> FilmReport:
    """Write `target` (complete, or not at all): `source` colorized by `model`, its audio copied (or
    re-encoded where `target`'s container cannot hold its codec; left out, with a warning in the report,
    where no encoder of the container's is at hand).

    `on_frame(frames_done, frames_declared)` is called after each frame (for a progress bar). Raises
    UnreadableImage, with the reason in one line, for a film that cannot be read to its end, a file that
    cannot be read at all, or a photo named as a film (`misnamed`); FilmRefused for a film over `limits`'
    frame size or length, OverBudget once the coloured film passes their max_bytes.
    """
    smoothing = smoothing or TemporalSmoothing()
    limits = limits or FilmLimits()
    refusal = misnamed(source)
    if refusal:
        raise UnreadableImage(refusal)
    try:
        container = av.open(str(source))
    except OSError as error:  # PyAV's errors of the file itself (permission, a symlink loop) are OSErrors too
        raise UnreadableImage.cannot_read(error) from None
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise UnreadableImage(f"not a film FFmpeg can read ({_reason(error)})") from None
    with container:
        if not container.streams.video:
            raise UnreadableImage("no video stream in this file")
        video = container.streams.video[0]
        _header_check(container, video, limits)
        video.thread_type = "AUTO"
        declared = video.frames or None
        rate = video.average_rate or video.guessed_rate or Fraction(24)
        start = float((video.start_time or 0) * video.time_base) if video.time_base else 0.0
        fmt = FILM_FORMATS[Path(target).suffix.lower()]
        written, warnings = 0, []
        with atomic_path(target) as temporary:
            try:
                with av.open(str(temporary), "w", format=fmt) as output:
                    out_video = _add_video_stream(output, video, film_encoder(video.codec_context.name, fmt))
                    out_audio, encoded = {}, set()  # by input stream index; encoded: those re-encoded
                    for stream in container.streams.audio:
                        out_stream, encode = _audio_stream(output, stream)
                        if out_stream is None:
                            warnings.append(
                                f"audio track {stream.index} ({stream.codec_context.name}) left out: "
                                f"{fmt} cannot hold it and this FFmpeg has none of its encoders "
                                f"({', '.join(AUDIO_ENCODERS[fmt])})"
                            )
                            continue
                        out_audio[stream.index] = out_stream
                        if encode:
                            encoded.add(stream.index)
                    audio = [stream for stream in container.streams.audio if stream.index in out_audio]
                    decoded, coloured = _Pipe(), _Pipe()

                    def read():  # demux and decode ahead of the network; audio packets pass through in order
                        frames = 0
                        for packet in container.demux(video, *audio):
                            if packet.stream.type == "audio":
                                if packet.dts is not None:
                                    decoded.put(packet)
                                continue
                            for frame in packet.decode():
                                frames += 1
                                seconds = max(frames / rate, (frame.time or 0.0) - start)
                                _frame_check(frame, frames, seconds, limits)
                                decoded.put((frame, lightness_of_rgb(frame.to_ndarray(format="rgb24"))))
                        decoded.end()

                    def mux(packets) -> None:
                        output.mux(packets)
                        _size_check(temporary, limits.max_bytes)

                    def write():  # encode and mux behind the network; re-encoded audio is decoded here
                        for item in coloured:
                            if not isinstance(item, av.Packet):
                                mux(out_video.encode(item))
                            elif item.stream.index in encoded:
                                out_stream = out_audio[item.stream.index]
                                for frame in item.decode():
                                    mux(out_stream.encode(frame))
                            else:
                                item.stream = out_audio[item.stream.index]
                                mux(item)
                        mux(out_video.encode())
                        for stream in audio:
                            if stream.index in encoded:
                                for frame in stream.codec_context.decode(None):
                                    mux(out_audio[stream.index].encode(frame))
                                mux(out_audio[stream.index].encode(None))

                    threads = [_in_thread(read, decoded), _in_thread(write, coloured)]
                    # the network leaves a core to decoding and encoding: its threads would wait on them
                    try:
                        with model.network.threads(len(os.sched_getaffinity(0)) - 1):
                            for item in decoded:
                                if isinstance(item, av.Packet):
                                    coloured.put(item)
                                    continue
                                frame, lightness = item
                                small = model.network_lightness(lightness, render_size, square)
                                result = av.VideoFrame.from_ndarray(
                                    colour(lightness, smoothing(small, model.predict(small))), format="rgb24"
                                )
                                result.pts, result.time_base = frame.pts, frame.time_base
                                coloured.put(result)
                                written += 1
                                if on_frame is not None:
                                    on_frame(written, declared)
                        coloured.end()
                        threads[1].join()
                        coloured.check()  # raises what the encoder failed with, if it did
                    finally:
                        decoded.close()
                        coloured.close()
                        for thread in threads:
                            thread.join()
                _size_check(temporary, limits.max_bytes)  # with the index written at the end
            except av.FFmpegError as error:
                raise UnreadableImage(
                    f"damaged film: {_reason(error)} after {written} frames; nothing written"
                ) from None
            if written == 0:
                raise UnreadableImage("no frame could be decoded; nothing written")
            if declared and written < declared:
                raise UnreadableImage(
                    f"truncated film: {written} of its {declared} frames could be decoded; nothing written"
                )
    return FilmReport(written, smoothing.cuts, warnings)
