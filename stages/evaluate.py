"""Stage evaluate@<name>: metrics over every validation image (with the judge's verdicts, `judge`),
predictions for the example grid, the model's decoding curve (its metrics at each value of its loss's
decode-only sweep, if it has one) and its quality against revealed colour hints (with a hint input;
else the one row without).
Stage ensemble@<name> runs it for an ensemble: the same metrics and predictions of its members' mean."""

from colorization.core.errors import UserError, run_main
from colorization.core.files import save_array, write_json
from colorization.core.params import load_params
from colorization.core.paths import PROJECT
from colorization.evaluation.curves import decoding_curve
from colorization.evaluation.hints import curve_without_hints, hint_metrics
from colorization.evaluation.judge import Judge
from colorization.evaluation.metrics import evaluate, format_metrics, predict_examples
from colorization.lab.meta import open_prepared
from colorization.models import resolve, saved
from colorization.models.ensemble import Ensemble


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError("usage: python stages/evaluate.py NAME")
    params = load_params()
    judge = Judge()
    if argv[0] in params.ensembles:
        ensemble = Ensemble(argv[0], [PROJECT.model(member) for member in params.ensembles[argv[0]]])
        val = open_prepared(PROJECT.lab).val
        metrics = evaluate(ensemble.predict, val, params.evaluate.batch_size, judge)
        write_json(PROJECT.model_metrics(ensemble.name), metrics)
        save_array(
            PROJECT.predictions(ensemble.name), predict_examples(ensemble.predict, val, params.evaluate.n_examples)
        )
        print(f"ensemble@{ensemble.name}: " + format_metrics(metrics))
        return
    name = resolve(params, argv[0]).name
    model_dir = PROJECT.model(name)
    if not model_dir.is_dir():
        raise UserError(f"{model_dir} not found: run the training stage first (dvc repro train@{name})")
    network, spec = saved.load(model_dir)
    val = open_prepared(PROJECT.lab).val
    metrics = evaluate(network.predict, val, params.evaluate.batch_size, judge) | {"epoch": spec.epoch}
    hint_curve = curve_without_hints(metrics)
    if network.hints:
        hint_curve, locality = hint_metrics(network.predict, val, params.evaluate.batch_size, metrics)
        metrics["hints"] = {f"points_{row['points']}": row for row in hint_curve} | {"locality": locality}
    write_json(PROJECT.hint_curve(name), hint_curve)
    write_json(PROJECT.model_metrics(name), metrics)
    save_array(PROJECT.predictions(name), predict_examples(network.predict, val, params.evaluate.n_examples))
    curve = decoding_curve(network, spec, val, params.evaluate.batch_size, PROJECT.prior, metrics, judge)
    write_json(PROJECT.decoding_curve(name), curve)
    print(f"evaluate@{name}: " + format_metrics(metrics))


if __name__ == "__main__":
    run_main(main)
