"""Run the benchmark suite: `python -m bench [--quick] [--work DIR]`; writes bench/results.json."""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from .colorize_speed import bench_after_load, bench_colorize, bench_film, bench_hint_change, bench_page
from .data import bench_encoding, bench_loader, bench_memory, bench_prepare, bench_prepare_profile
from .training import (
    bench_bfloat16,
    bench_data_parallel,
    bench_encoder_ab,
    bench_gpu,
    bench_keras_backends,
    bench_losses,
    bench_train_overhead,
)
from .workloads import ROOT, make_images

TARGETS = {
    "prepare_speedup_vs_naive": (">=", 4),
    "prepare_vs_decode_bound": (">=", 0.7),
    "loader_speedup_vs_per_item": (">=", 20),
    "train_data_overhead_resnet18": (">=", 0.95),
    "train_data_overhead_cnn_v1": (">=", 0.95),
    "rss_ratio_prepare": ("<=", 1.15),
    "rss_ratio_train": ("<=", 1.15),
    "shard_bytes_per_pixel": ("<=", 3),
    "max_abs_error_ab": ("<=", 0.6),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, under 5 minutes on 2 cores")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="colorization-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = (
        dict(prepare=2000, loader_batches=20, steps=20, memory=[500, 4000])
        if args.quick
        else dict(prepare=2000, loader_batches=60, steps=30, memory=[500, 2000, 4000, 8000])
    )
    results, figures = {}, {}
    started = time.perf_counter()
    raw = work / "raw_prepare_source"
    make_images(raw, sizes["prepare"])
    steps = [
        ("prepare", lambda: bench_prepare(raw, work, sizes["prepare"], workers=2)),
        ("prepare_profile", lambda: bench_prepare_profile(raw, work)),
        ("encoding", lambda: bench_encoding(raw)),
        ("loader", lambda: bench_loader(raw, work / "lab_prepare", sizes["loader_batches"])),
        ("memory", lambda: bench_memory(work, sizes["memory"])),
        ("train_resnet18", lambda: bench_train_overhead("resnet18", work / "lab64_4000", sizes["steps"])),
        ("train_cnn_v1", lambda: bench_train_overhead("cnn_v1", work / "lab64_4000", sizes["steps"])),
        ("colorize", lambda: bench_colorize(work)),
        ("page", lambda: bench_page(work)),
        ("hint_change", lambda: bench_hint_change(work)),
        ("after_load", lambda: bench_after_load(work, 5 if args.quick else 10)),
        ("film", lambda: bench_film(work, (5, 20) if args.quick else (10, 40))),
        ("losses", bench_losses),
        ("encoder_ab", lambda: bench_encoder_ab(rounds=3 if args.quick else 5)),
        ("bfloat16", lambda: bench_bfloat16(rounds=3 if args.quick else 5)),
        ("keras_backends", bench_keras_backends),
        ("data_parallel", lambda: bench_data_parallel(work / "lab64_4000", 32 * sizes["steps"])),
        ("gpu", lambda: bench_gpu(work)),
    ]
    for name, run in steps:
        outcome = run()
        figures[name] = outcome.pop("figures", {})
        results.update(outcome)
        shown = outcome or figures[name]
        print(
            f"{name}: "
            + ", ".join(
                f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}" for key, value in shown.items()
            ),
            flush=True,
        )
    print(f"\n{'key':32} {'value':>9}  target  met")
    for key, (sign, target) in TARGETS.items():
        value = results[key]
        met = value >= target if sign == ">=" else value <= target
        print(f"{key:32} {value:9.7g}  {sign} {target:<4}  {'yes' if met else 'NO'}")
    results["figures"] = figures
    results["seconds"] = time.perf_counter() - started
    results["quick"] = args.quick
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote bench/results.json in {results['seconds']:.0f} s")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
